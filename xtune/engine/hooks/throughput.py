"""Tokens per second (real, non-padding tokens) logged with the loss."""

from __future__ import annotations

import time

from mmengine.hooks import Hook

from xtune.registry import HOOKS


@HOOKS.register_module()
class ThroughputHook(Hook):
    """Log ``tokens_per_sec`` (per process, padding excluded) every iteration."""

    priority = "BELOW_NORMAL"

    def __init__(self) -> None:
        self._start: float | None = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._start is None or not isinstance(data_batch, dict):
            return
        elapsed = time.perf_counter() - self._start
        mask = data_batch.get("attention_mask")
        tokens = int(mask.sum()) if mask is not None else int(data_batch["input_ids"].numel())
        runner.message_hub.update_scalar("train/tokens", tokens)
        if elapsed > 0:
            runner.message_hub.update_scalar("train/tokens_per_sec", tokens / elapsed)
