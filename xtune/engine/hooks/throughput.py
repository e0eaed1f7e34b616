"""Tokens per second, model FLOPs utilisation, peak memory and ETA, logged with the loss."""

from __future__ import annotations

import time

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from xtune.engine.flops import FlopsModel, flops_model, peak_tflops
from xtune.registry import HOOKS


@HOOKS.register_module()
class ThroughputHook(Hook):
    """Log per process (i.e. per GPU) every iteration:

    - ``tokens``, ``tokens_per_sec``: real (non-padding) tokens of the step and their rate;
    - ``tflops``, ``mfu``: achieved model TFLOP/s (see :mod:`xtune.engine.flops`: 6 FLOPs per trained and
      4 per frozen weight and token, plus attention) and its share of the device's dense bf16 peak. ``mfu``
      is logged on GPUs whose peak is known, or everywhere when ``peak_tflops`` is given;
    - ``peak_mem_gib``: the most memory this process has held: ``torch.cuda.max_memory_allocated`` on GPU,
      the peak resident set size on CPU;
    - ``eta_s``: seconds left at the wall-clock pace of this run so far (checkpoint and evaluation pauses
      included).

    Args:
        peak_tflops: the accelerator's peak TFLOP/s, overriding the built-in table.
    """

    # Above LoggerHook (BELOW_NORMAL): these scalars must be in the message hub before it logs the step.
    priority = "NORMAL"

    def __init__(self, peak_tflops: float | None = None) -> None:
        self.peak_tflops = peak_tflops
        self._start: float | None = None
        self._flops: FlopsModel | None = None
        self._peak: float | None = None
        self._device: str = "cpu"
        self._run_start: tuple[float, int] | None = None
        self._peak_mem = 0

    def before_train(self, runner) -> None:
        import torch

        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._flops = flops_model(model)
        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        self._peak = self.peak_tflops
        if self._peak is None and self._device == "cuda":
            self._peak = peak_tflops(torch.cuda.get_device_name())
        self._run_start = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        now = time.perf_counter()
        hub = runner.message_hub
        self._log_memory(hub)
        self._log_eta(runner, now)
        if self._start is None or not isinstance(data_batch, dict):
            return
        elapsed = now - self._start
        lengths = sample_lengths(data_batch)
        tokens = sum(lengths)
        hub.update_scalar("train/tokens", tokens)
        if elapsed <= 0:
            return
        hub.update_scalar("train/tokens_per_sec", tokens / elapsed)
        if self._flops is not None and self._flops.weight_flops_per_token > 0:
            tflops = self._flops.batch_flops(lengths) / elapsed / 1e12
            hub.update_scalar("train/tflops", tflops)
            if self._peak:
                hub.update_scalar("train/mfu", tflops / self._peak)

    def _log_memory(self, hub) -> None:
        import torch

        if self._device == "cuda":
            used = torch.cuda.max_memory_allocated()
        else:
            import resource

            used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        # mmengine's LogProcessor resets CUDA peak statistics at every log line: keep our own maximum.
        self._peak_mem = max(self._peak_mem, used)
        hub.update_scalar("train/peak_mem_gib", self._peak_mem / 2**30)

    def _log_eta(self, runner, now: float) -> None:
        done = runner.iter + 1
        if self._run_start is None:  # measured from the end of this run's first step (warm-up excluded)
            self._run_start = (now, done)
            return
        start, start_iter = self._run_start
        if done > start_iter:
            per_iter = (now - start) / (done - start_iter)
            runner.message_hub.update_scalar("train/eta_s", per_iter * max(runner.max_iters - done, 0))


def sample_lengths(batch: dict) -> list[int]:
    """Unpadded length of every sequence in a batch; packed rows (``position_ids`` restarting at 0)
    count each packed sample separately."""
    mask = batch.get("attention_mask")
    input_ids = batch["input_ids"]
    positions = batch.get("position_ids")
    lengths: list[int] = []
    for row in range(input_ids.shape[0]):
        valid = int(mask[row].sum()) if mask is not None else int(input_ids.shape[1])
        if positions is None:
            lengths.append(valid)
            continue
        starts = sorted({0, *(positions[row, :valid] == 0).nonzero().flatten().tolist()})
        bounds = [*starts, valid]
        lengths.extend(b - a for a, b in zip(bounds, bounds[1:]) if b > a)
    return lengths
