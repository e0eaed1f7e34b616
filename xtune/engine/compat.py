"""Fixes for mmengine 0.10.7 under torch >= 2.6, applied explicitly by the engine (never on import).

Each fix is one small function with a test in ``tests/engine/test_compat.py``.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def allow_mmengine_checkpoint_globals() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints.

    torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``; mmengine checkpoints pickle a few
    plain-data classes (the message hub's ``HistoryBuffer``, numpy scalars/dtypes) that the weights-only
    unpickler refuses. Allow-listing exactly those classes keeps the safe loader for everything else.
    """
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    allowed = [
        HistoryBuffer,
        np.dtype,
        np.core.multiarray._reconstruct if hasattr(np, "core") else None,
        np.ndarray,
        type(np.dtype(np.float64)),
        type(np.dtype(np.int64)),
        type(np.dtype(np.float32)),
        type(np.dtype(np.int32)),
    ]
    try:
        from numpy._core.multiarray import _reconstruct, scalar

        allowed += [_reconstruct, scalar]
    except ImportError:  # pragma: no cover - numpy < 2
        pass
    torch.serialization.add_safe_globals([a for a in allowed if a is not None])


def apply_all() -> None:
    """Apply every fix needed on this CPU/GPU process before a Runner is built."""
    allow_mmengine_checkpoint_globals()
