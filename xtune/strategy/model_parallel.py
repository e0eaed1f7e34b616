"""Layer-wise model parallel: consecutive decoder layers on different GPUs, in one process.

The model is split with Hugging Face's ``device_map`` machinery (accelerate's ``infer_auto_device_map``
balanced over the GPUs, the same computation as ``from_pretrained(device_map='balanced')``), and
accelerate's hooks move activations from one GPU to the next. It needs no launcher and lets a model
that does not fit one GPU train on several, but only one GPU computes at a time (a pipeline without
micro-batches), so it is about as slow as a single GPU with the sum of their memory.
"""

from __future__ import annotations

from typing import Any

from xtune.registry import STRATEGIES
from xtune.strategy.base import LaunchContext, RunSetup


@STRATEGIES.register_module()
class ModelParallel:
    """Split the model's layers over the visible GPUs of one process (no launcher).

    Args:
        devices: GPU indices to use (default: every visible GPU).
        max_memory: per-GPU memory caps for the weights, e.g. ``{'0': '10GiB', '1': '20GiB'}``; leave
            room for activations and optimizer states (default: the free memory of each GPU).
    """

    shards_params = False

    def __init__(self, devices: list[int] | None = None, max_memory: dict[str, str] | None = None) -> None:
        self.devices = list(devices) if devices is not None else None
        self.max_memory = dict(max_memory) if max_memory else None

    def memory_split(self, world_size: int) -> Any:
        """For the planner: about 1/N of the layers (weights, states, activations) on each of the N GPUs
        (an :class:`xtune.planner.MemorySplit`); the last one also computes the logits."""
        from xtune.planner.split import MemorySplit

        return MemorySplit.model_parallel(len(self.devices) if self.devices else world_size)

    def check(self, ctx: LaunchContext) -> list[str]:
        problems = []
        if ctx.launcher != "none" or ctx.world_size > 1:
            problems.append(
                "strategy: `ModelParallel` splits layers across GPUs inside ONE process; drop --launcher/"
                "torchrun (run `python tools/train.py CFG`), or use DDP/DeepSpeed for multi-process runs."
            )
        if ctx.device != "cuda":
            problems.append(
                "strategy: `ModelParallel` places layers on several GPUs, and this machine has none; use "
                "strategy=dict(type='Single') on CPU."
            )
        elif (len(self.devices) if self.devices is not None else ctx.gpus) < 2:
            problems.append(
                f"strategy: `ModelParallel` needs at least 2 GPUs, {ctx.gpus} visible "
                "(strategy.devices / CUDA_VISIBLE_DEVICES); use strategy=dict(type='Single') for one GPU."
            )
        elif self.devices is not None and max(self.devices) >= ctx.gpus:
            problems.append(f"strategy.devices: {self.devices} names a GPU beyond the {ctx.gpus} visible.")
        return problems

    def setup(self, launcher: str, precision: str, device: str) -> RunSetup:
        import xtune.strategy.model_parallel_runner  # noqa: F401  (registers the runner strategy)

        runner_strategy = dict(
            _delete_=True,
            type="xtune.ModelParallelRunnerStrategy",
            devices=self.devices,
            max_memory=self.max_memory,
        )
        return RunSetup("FlexibleRunner", {"launcher": "none", "strategy": runner_strategy})


def plan_device_map(
    arch: dict[str, Any] | str,
    max_memory: dict[int | str, int | str],
    dtype: Any = "bfloat16",
    trust_remote_code: bool = False,
) -> dict[str, int | str]:
    """Where each module goes: ``{'model.embed_tokens': 0, 'model.layers.0': 0, ..., 'lm_head': 1}``.

    Built on an empty (meta-device) model of the architecture, so no weights are read and no GPU is
    needed to plan; ``max_memory`` maps device indices to byte budgets (ints or strings like '20GiB').
    Decoder layers are never split (the model's ``_no_split_modules``).
    """
    import torch
    from accelerate import init_empty_weights
    from accelerate.utils import get_balanced_memory, infer_auto_device_map
    from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

    if isinstance(arch, str):
        config = AutoConfig.from_pretrained(arch, trust_remote_code=trust_remote_code)
    elif isinstance(arch, PretrainedConfig):
        config = arch
    else:
        arch = dict(arch)
        config = AutoConfig.for_model(arch.pop("model_type"), **arch)
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    no_split = list(getattr(model, "_no_split_modules", None) or [])
    budget = get_balanced_memory(model, max_memory=max_memory, no_split_module_classes=no_split, dtype=dtype)
    return dict(
        infer_auto_device_map(model, max_memory=budget, no_split_module_classes=no_split, dtype=dtype)
    )
