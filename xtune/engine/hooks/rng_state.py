"""Save and restore random-number-generator states so a resumed run repeats the uninterrupted one."""

from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.hooks import Hook

from xtune.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store python/numpy/torch RNG states in each checkpoint and restore them on resume.

    mmengine re-seeds on resume, which gives dropout a different stream than the uninterrupted run had.
    The state is restored at the first iteration after resume, i.e. after the train loop has skipped
    the batches already seen (skipping may create a new dataloader iterator, which draws a seed).
    """

    priority = "VERY_LOW"

    def __init__(self) -> None:
        self._pending: dict | None = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = {
            "python": random.getstate(),
            # plain ints, not an ndarray: keeps the checkpoint loadable with torch.load(weights_only=True)
            "numpy": _numpy_state_to_plain(np.random.get_state()),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["rng_state"] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._pending = checkpoint.get("rng_state")

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        random.setstate(state["python"])
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_to_plain(state: tuple) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (str(name), [int(k) for k in keys], int(pos), int(has_gauss), float(cached))
