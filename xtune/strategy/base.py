"""The strategy interface: a strategy checks a launch, then turns itself into mmengine runner settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class RunSetup:
    """What a strategy contributes to the runner: its class and the config keys it sets.

    ``runner_type`` is ``'Runner'`` or ``'FlexibleRunner'``; ``overrides`` are merged into the config
    before the runner is built (``launcher``, ``model_wrapper_cfg``, ``optim_wrapper.type``, ``strategy``...).
    A dict carrying ``_delete_=True`` replaces the config's value instead of merging into it.
    """

    runner_type: str = "Runner"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchContext:
    """What is known about a run before anything heavy is built; strategies check themselves against it.

    Attributes:
        launcher: ``'none'``, ``'pytorch'`` (torchrun) or ``'slurm'``.
        device: ``'cuda'`` or ``'cpu'``.
        precision: the resolved precision, ``'fp32'``, ``'bf16'`` or ``'fp16'``.
        world_size: processes in the job (from torchrun's/slurm's environment; 1 without a launcher).
        gpus: CUDA devices visible to this process.
        quantized: the base model is stored quantized (QLoRA).
        trains_base: every base weight trains (full fine-tuning).
        micro_batch_size: ``train_dataloader.batch_size`` (samples per process per step).
        accumulative_counts: ``optim_wrapper.accumulative_counts`` (micro-steps per optimizer step).
        max_grad_norm: ``optim_wrapper.clip_grad.max_norm`` (None: no clipping).
        optimizer: ``optim_wrapper.optimizer.type`` (e.g. ``'AdamW'``).
    """

    launcher: str = "none"
    device: str = "cpu"
    precision: str = "fp32"
    world_size: int = 1
    gpus: int = 0
    quantized: bool = False
    trains_base: bool = False
    micro_batch_size: int | None = None
    accumulative_counts: int = 1
    max_grad_norm: float | None = None
    optimizer: str | None = None


class Strategy(Protocol):
    """What the engine and the planner ask of a strategy."""

    #: True when parameters are flattened and sharded (ZeRO-3, FSDP): 4-bit storage must then use the
    #: compute dtype so shards are uniform.
    shards_params: bool

    def check(self, ctx: LaunchContext) -> list[str]:
        """Problems with running this strategy in ``ctx``, each naming the config key or flag to change."""

    def setup(self, launcher: str, precision: str, device: str) -> RunSetup:
        """The runner class and config overrides for this strategy."""
