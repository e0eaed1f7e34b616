"""Fixes for mmengine 0.10.7 under torch >= 2.6, applied explicitly by the engine (never on import).

Each fix is one small function or hook with a test in ``tests/engine/test_compat.py``.
"""

from __future__ import annotations

from typing import Any

from mmengine.hooks import Hook


class WeightsOnlyCheckpointHook(Hook):
    """Keep mmengine checkpoints loadable with ``torch.load(weights_only=True)``.

    torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine pickles its message hub's
    ``HistoryBuffer`` objects, whose ``statistics_methods`` are bound methods (pickled through
    ``builtins.getattr``: an arbitrary-attribute gadget that must never be allow-listed). This hook
    stores each buffer as plain lists when a checkpoint is saved and rebuilds it when one is loaded,
    so resuming needs no unsafe global at all. Registered by the engine on every runner; lowest
    priority so it sees what other hooks added before saving.
    """

    priority = "LOWEST"

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        hub = checkpoint.get("message_hub")
        if not hub or "log_scalars" not in hub:
            return
        hub["log_scalars"] = {key: _buffer_to_plain(buf) for key, buf in hub["log_scalars"].items()}
        # numpy scalars (e.g. the ETA) would need numpy globals allow-listed; plain floats need none.
        hub["runtime_info"] = {key: _numpy_to_python(value) for key, value in hub.get("runtime_info", {}).items()}

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        hub = checkpoint.get("message_hub")
        if not hub or "log_scalars" not in hub:
            return
        hub["log_scalars"] = {key: _plain_to_buffer(value) for key, value in hub["log_scalars"].items()}


def _buffer_to_plain(buffer: Any) -> Any:
    from mmengine.logging import HistoryBuffer

    if not isinstance(buffer, HistoryBuffer):
        return buffer
    values, counts = buffer.data
    return {
        "__history_buffer__": True,
        "values": [float(v) for v in values],
        "counts": [int(c) for c in counts],
        "max_length": int(buffer.max_length),
    }


def _numpy_to_python(value: Any) -> Any:
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value


def _plain_to_buffer(value: Any) -> Any:
    from mmengine.logging import HistoryBuffer

    if isinstance(value, dict) and value.get("__history_buffer__"):
        return HistoryBuffer(value["values"], value["counts"], value["max_length"])
    return value


def allow_mmengine_checkpoint_globals() -> None:
    """Allow the plain-data classes older mmengine checkpoints contain (never ``getattr``)."""
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    allowed: list = [HistoryBuffer, np.dtype, np.ndarray]
    try:
        from numpy._core.multiarray import _reconstruct, scalar

        allowed += [_reconstruct, scalar]
    except ImportError:  # pragma: no cover - numpy < 2
        pass
    torch.serialization.add_safe_globals(allowed)


def apply_all(runner: Any = None) -> None:
    """Apply every fix: process-wide ones now, runner-level ones on ``runner`` when given."""
    allow_mmengine_checkpoint_globals()
    if runner is not None:
        runner.register_hook(WeightsOnlyCheckpointHook(), priority="LOWEST")
