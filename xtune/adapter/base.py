"""The adapter interface."""

from __future__ import annotations

from typing import Any, Protocol


class Adapter(Protocol):
    """What the model builder and the planner ask of an adapter."""

    #: True when every base weight trains (full fine-tuning): the base then keeps fp32 master weights.
    trains_base: bool

    def apply(self, model: Any, quantized: bool = False) -> Any:
        """Make ``model`` trainable as this adapter prescribes and return it (possibly wrapped)."""

    def trainable_params(self, arch: dict) -> int:
        """Trainable parameter count for an architecture described by a HF ``config.json`` dict."""
