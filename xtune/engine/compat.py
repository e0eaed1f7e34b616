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
        hub["runtime_info"] = {
            key: _numpy_to_python(value) for key, value in hub.get("runtime_info", {}).items()
        }

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


def init_dist(launcher: str, backend: str = "nccl", timeout: int | None = None) -> None:
    """Start ``torch.distributed`` for ``launcher`` as mmengine's ``init_dist`` does, without CUDA too.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally, which fails on a
    CPU-only torch (``module 'torch._C' has no attribute '_cuda_setDevice'``). With CUDA this calls
    mmengine's function unchanged; without, it does the same steps minus the device selection (slurm's
    variables become torchrun's). The engine calls it before building the runner, which then finds
    the process group started and skips its own ``init_dist``. No-op when already initialized.
    """
    import datetime
    import os

    import torch
    import torch.distributed as torch_dist

    if torch_dist.is_available() and torch_dist.is_initialized():
        return
    if torch.cuda.is_available():
        from mmengine.dist import init_dist as mmengine_init_dist

        kwargs = {} if timeout is None else {"timeout": timeout}
        mmengine_init_dist(launcher, backend, **kwargs)
        return
    if launcher == "slurm":
        _torch_env_from_slurm()
    elif launcher != "pytorch":
        raise ValueError(f"launcher {launcher!r}: xtune starts processes with torchrun (pytorch) or slurm")
    kwargs = {} if timeout is None else {"timeout": datetime.timedelta(seconds=timeout)}
    torch_dist.init_process_group(
        backend=backend, rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]), **kwargs
    )


def _torch_env_from_slurm() -> None:
    """RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* from SLURM_* (mmengine's ``_init_dist_slurm``, minus CUDA)."""
    import os
    import subprocess

    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")
    os.environ.setdefault("MASTER_PORT", "29500")
    if "MASTER_ADDR" not in os.environ:
        nodes = os.environ["SLURM_NODELIST"]
        os.environ["MASTER_ADDR"] = subprocess.getoutput(f"scontrol show hostname {nodes} | head -n1")


def apply_all(runner: Any = None) -> None:
    """Apply every fix: process-wide ones now, runner-level ones on ``runner`` when given."""
    allow_mmengine_checkpoint_globals()
    if runner is not None:
        runner.register_hook(WeightsOnlyCheckpointHook(), priority="LOWEST")
