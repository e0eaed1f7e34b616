"""How a strategy divides model states across GPUs: the small protocol strategies answer for the planner.

A strategy component implements ``memory_split(world_size: int) -> MemorySplit``, usually by returning
one of the constructors below with its own settings (``MemorySplit.zero(stage=3, world_size=8,
offload_optimizer=True)``). The planner then prices the split with the model's sizes; the arithmetic
lives here once, next to its sources, instead of in every strategy. Strategies that do not implement
it yet are priced by :func:`split_for` from their registered name and settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# DeepSpeed's ZeRO defaults (deepspeed/runtime/zero/config.py): the gradient reduce bucket that
# stages 1-3 allocate whole (`torch.empty(reduce_bucket_size)` in stage_1_and_2.py / stage3.py) and
# ZeRO-3's parameter prefetch bucket.
DS_REDUCE_BUCKET = 500_000_000
DS_PREFETCH_BUCKET = 50_000_000


@dataclass(frozen=True)
class MemorySplit:
    """What one GPU holds of the model states under a strategy, as multiples of one full copy.

    ``params=1`` means every GPU keeps all the weights, ``params=1/8`` an eighth of them. Gradients and
    optimizer states concern the trainable parameters only (all of them for full fine-tuning, the
    adapter for LoRA).

    Attributes:
        label: short name shown to users (``single``, ``ddp``, ``zero2``, ``zero3_offload``, ...).
        world_size: GPUs the strategy occupies.
        processes: processes launched (``model_parallel`` drives all its GPUs from one).
        params: weights (frozen base and trainable) per GPU.
        grads: gradients in the trainable weights' dtype per GPU (DDP without ``gradient_as_bucket_view``
            keeps a second copy in its buckets: 2).
        fp32_grads: fp32 gradient copies the optimizer steps from (DeepSpeed ZeRO).
        master: fp32 master weights kept beside 16-bit trainable weights (DeepSpeed ZeRO).
        optimizer: optimizer states (AdamW's two moments).
        activations: share of the decoder layers' activations (layer-wise model parallel splits them).
        compute_dtype_params: the engine casts the model to the 16-bit compute dtype and keeps the fp32
            master copy in the optimizer (DeepSpeed); otherwise trainable weights stay as loaded and AMP
            casts per op (PyTorch AMP: fp32 weights are their own master copy).
        gathers_module: ZeRO-3 all-gathers one module's full weights (and gradients) at a time.
        offload_optimizer: master weights, fp32 gradients and optimizer states live in CPU RAM.
        offload_params: the weights live in CPU RAM too (ZeRO-3 offload).
        comm_buffer_elems: elements of communication buckets each GPU allocates (compute dtype).
    """

    label: str
    world_size: int = 1
    processes: int = 1
    params: float = 1.0
    grads: float = 1.0
    fp32_grads: float = 0.0
    master: float = 0.0
    optimizer: float = 1.0
    activations: float = 1.0
    compute_dtype_params: bool = False
    gathers_module: bool = False
    offload_optimizer: bool = False
    offload_params: bool = False
    comm_buffer_elems: int = 0

    # -- the strategies xtune knows -------------------------------------------------------------------
    @classmethod
    def single(cls) -> MemorySplit:
        """One process, one GPU: everything on it."""
        return cls("single")

    @classmethod
    def ddp(cls, world_size: int, gradient_as_bucket_view: bool = True) -> MemorySplit:
        """Data parallel: a full replica per GPU, so per-GPU memory does not fall with more GPUs.

        Without ``gradient_as_bucket_view`` DDP's reducer keeps its own copy of every gradient in its
        buckets (PyTorch DistributedDataParallel docs, ``gradient_as_bucket_view``: "the saved memory
        size will be equal to the total gradients size").
        """
        return cls("ddp", world_size, world_size, grads=1.0 if gradient_as_bucket_view else 2.0)

    @classmethod
    def zero(
        cls,
        stage: int,
        world_size: int,
        offload_optimizer: bool = False,
        offload_params: bool = False,
        reduce_bucket_size: int = DS_REDUCE_BUCKET,
        prefetch_bucket_size: int = DS_PREFETCH_BUCKET,
    ) -> MemorySplit:
        """DeepSpeed ZeRO stage 0-3 over ``world_size`` GPUs.

        Partitioning follows the ZeRO paper (Rajbhandari et al. 2020, arXiv:1910.02054, §5, Fig. 1):
        stage 1 shards optimizer states (4Ψ + 12Ψ/N with mixed-precision Adam), stage 2 also gradients
        (2Ψ + 14Ψ/N), stage 3 also parameters (16Ψ/N). DeepSpeed's implementation adds an fp32 copy of
        each rank's gradient partition for the optimizer step, which its own estimators count:
        ``estimate_zero2_model_states_mem_needs`` = 2Ψ + 18Ψ/N ("2 = params_16bit, 18 = 2_grads_16bit
        + 4_grads_32bit + 4_params_32bit + 8_optimizer_states_32bit", stage_1_and_2.py) and
        ``estimate_zero3_model_states_mem_needs`` = 4·largest_layer + 18Ψ/N (stage3.py), where stage 3
        keeps gradient partitions only in fp32 (``grad_partitions_flat_buffer`` in
        ``gradient_accumulation_dtype``) and gathers one module's 16-bit weights and gradients at a time.
        Stage 1 keeps the whole 16-bit gradients (nothing partitions them) plus the fp32 partition.
        With optimizer offload (ZeRO-Offload, arXiv:2101.06840) the fp32 states and gradients are on the
        CPU and the GPU keeps only 16-bit weights (DeepSpeed's estimator: 2Ψ for stage 2).
        """
        if stage not in (0, 1, 2, 3):
            from xtune.errors import ConfigError

            raise ConfigError(f"strategy.stage: DeepSpeed ZeRO stage must be 0, 1, 2 or 3, got {stage}")
        if offload_params and stage != 3:
            from xtune.errors import ConfigError

            raise ConfigError("strategy.offload_params: parameter offload needs ZeRO stage 3")
        # Stage 0 partitions nothing: DeepSpeed's bf16 optimizer still keeps fp32 masters and fp32
        # gradient accumulators for every weight (runtime/bf16_optimizer.py).
        shard = 1.0 / world_size if stage else 1.0
        # Labels as `xtune train --deepspeed` names the presets; ZeRO-3 with only the optimizer offloaded
        # is told apart from the preset that offloads both.
        label = f"zero{stage}"
        if offload_optimizer and offload_params:
            label += "_offload"
        elif offload_optimizer:
            label += "_offload_opt" if stage == 3 else "_offload"
        elif offload_params:
            label += "_offload_params"
        buckets = reduce_bucket_size + (prefetch_bucket_size if stage == 3 else 0)
        return cls(
            label,
            world_size,
            world_size,
            params=shard if stage == 3 else 1.0,
            grads=1.0 if stage <= 1 else 0.0 if offload_optimizer or stage == 3 else shard,
            fp32_grads=shard,
            master=shard,
            optimizer=shard,
            compute_dtype_params=True,
            gathers_module=stage == 3,
            offload_optimizer=offload_optimizer,
            offload_params=offload_params,
            comm_buffer_elems=buckets,
        )

    @classmethod
    def model_parallel(cls, world_size: int) -> MemorySplit:
        """Consecutive layer blocks on different GPUs in one process (``device_map`` split).

        Each GPU holds about 1/N of the layers with their weights, gradients, optimizer states and
        activations; the last one also computes the logits.
        """
        shard = 1.0 / world_size
        return cls(
            "model_parallel", world_size, 1, params=shard, grads=shard, optimizer=shard, activations=shard
        )


# Strategy labels the CLI accepts (``--strategy``) and the config each stands for.
STRATEGY_CONFIGS: dict[str, dict] = {
    "single": dict(type="Single"),
    "ddp": dict(type="DDP"),
    "zero1": dict(type="DeepSpeed", stage=1),
    "zero2": dict(type="DeepSpeed", stage=2),
    "zero2_offload": dict(type="DeepSpeed", stage=2, offload_optimizer=True),
    "zero3": dict(type="DeepSpeed", stage=3),
    "zero3_offload_opt": dict(type="DeepSpeed", stage=3, offload_optimizer=True),
    "zero3_offload": dict(type="DeepSpeed", stage=3, offload_optimizer=True, offload_params=True),
    "model_parallel": dict(type="ModelParallel"),
}


def _setting(strategy: Any, name: str, default: Any) -> Any:
    if isinstance(strategy, dict):
        return strategy.get(name, default)
    return getattr(strategy, name, default)


def split_for(strategy: Any, world_size: int) -> MemorySplit:
    """The :class:`MemorySplit` of a strategy component (or of its config dict) over ``world_size`` GPUs.

    Asks the component's ``memory_split`` when it has one; otherwise prices it by its registered
    name, so the planner already covers strategies that do not implement the protocol yet.
    """
    method = getattr(strategy, "memory_split", None)
    if callable(method):
        return method(world_size)
    name = strategy.get("type") if isinstance(strategy, dict) else type(strategy).__name__
    name = str(name).rsplit(".", 1)[-1]
    if name == "Single":
        return MemorySplit.single()
    if name == "DDP":
        return MemorySplit.ddp(world_size, bool(_setting(strategy, "gradient_as_bucket_view", True)))
    if name == "DeepSpeed":
        offload_params = bool(
            _setting(strategy, "offload_params", _setting(strategy, "offload_param", False))
        )
        stage = _setting(strategy, "effective_stage", None)
        if stage is None:
            stage = _setting(strategy, "stage", None)
        return MemorySplit.zero(
            2 if stage is None else int(stage),  # DeepSpeed strategy default: stage 2
            world_size,
            offload_optimizer=bool(_setting(strategy, "offload_optimizer", False)),
            offload_params=offload_params,
        )
    if name == "ModelParallel":
        return MemorySplit.model_parallel(world_size)
    if name in ("FSDP", "FSDP2"):
        # Fully sharded data parallel shards parameters, gradients and optimizer states like ZeRO-3
        # (Zhao et al. 2023, arXiv:2304.11277) and gathers one wrapped unit at a time.
        return MemorySplit.zero(3, world_size)
    from xtune.errors import ConfigError

    raise ConfigError(
        f"strategy: the planner does not know how `{name}` places model states; give the class a "
        "`memory_split(world_size) -> xtune.planner.MemorySplit` method."
    )
