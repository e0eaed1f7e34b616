"""The strategy interface: a strategy turns itself into mmengine runner settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class RunSetup:
    """What a strategy contributes to the runner: its class and the config keys it sets.

    ``runner_type`` is ``'Runner'`` or ``'FlexibleRunner'``; ``overrides`` are merged into the config
    before the runner is built (``launcher``, ``model_wrapper_cfg``, ``optim_wrapper.type``, ``strategy``...).
    """

    runner_type: str = "Runner"
    overrides: dict[str, Any] = field(default_factory=dict)


class Strategy(Protocol):
    """What the engine and the planner ask of a strategy."""

    #: True when parameters are flattened and sharded (ZeRO-3, FSDP): 4-bit storage must then use the
    #: compute dtype so shards are uniform.
    shards_params: bool

    def setup(self, launcher: str, precision: str, device: str) -> RunSetup:
        """The runner class and config overrides for this strategy."""
