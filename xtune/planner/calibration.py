"""Predictions the planner can be checked against: what a rank holds, as measured by the run itself.

:func:`predicted_model_states` predicts the report ``ModelStatesHook`` writes to
``WORK_DIR/model_states_rank{R}.json`` (bytes resident on one rank right after its first optimizer
step), so a CPU run of any strategy calibrates the model-state half of the memory model.
:func:`model_state_bytes` is the model-state part of the peak estimate (weights + adapter + gradients +
optimizer), the quantity DeepSpeed's ``estimate_zero{2,3}_model_states_mem_needs`` estimate.
"""

from __future__ import annotations

from typing import Any

from xtune.planner.arch import count_params, quantizable_params
from xtune.planner.memory import Workload, estimate
from xtune.planner.split import MemorySplit

_DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


def predicted_model_states(
    arch: dict,
    quantizer: Any,
    adapter: Any,
    split: MemorySplit,
    precision: str = "fp32",
    optimizer: Any = None,
) -> dict[str, int]:
    """Bytes one rank holds at its first optimizer step, in ``ModelStatesHook``'s report keys.

    - ``param_bytes``: every weight (its shard under ZeRO-3, wherever it lives, offloaded or not);
    - ``grad_bytes``: PyTorch engines keep one gradient per trainable weight (DDP's bucket view is the
      gradient itself); DeepSpeed ZeRO has freed the 16-bit gradients by then and steps from the fp32
      gradient partition (``single_partition_of_fp32_groups[i].grad`` in stage_1_and_2.py, the fp32
      sub-group gradients in stage3.py);
    - ``optimizer_bytes``: the optimizer's state tensors (Adam's two moments; the scalar ``step``
      tensors are left out, a few bytes per parameter tensor);
    - ``master_param_bytes``: DeepSpeed's fp32 copy of the rank's share of the trainable weights.
    """
    workload = Workload(precision=precision, **({"optimizer": optimizer} if optimizer else {}))
    c = _DTYPE_BYTES[precision]
    params = count_params(arch)
    trainable = int(adapter.trainable_params(arch))
    trains_base = bool(adapter.trains_base)
    # As loaded (xtune.model.sft.resolve_dtype): fp32 when the base trains or in fp32 runs, else 16-bit;
    # DeepSpeed then casts everything to the compute dtype.
    weight_bytes = c if split.compute_dtype_params or (precision != "fp32" and not trains_base) else 4
    if getattr(quantizer, "quantized", False):
        q_params = quantizable_params(arch)
        upcast = getattr(quantizer, "bits_per_unquantized_param", None)
        u_bytes = c if split.compute_dtype_params or upcast is None else upcast() / 8
        base = q_params * quantizer.bits_per_base_param() / 8 + (params - q_params) * u_bytes
    else:
        base = params * weight_bytes
    train_bytes = weight_bytes if trains_base else (c if split.compute_dtype_params else 4)
    adapter_total = 0 if trains_base else trainable * train_bytes
    if split.compute_dtype_params:  # DeepSpeed
        grads = trainable * 4 * split.fp32_grads
    else:
        grads = trainable * train_bytes * min(split.grads, 1.0)
    state = workload.optimizer.state_bytes(4 if split.master else train_bytes)
    return dict(
        param_bytes=int(round((base + adapter_total) * split.params)),
        grad_bytes=int(round(grads)),
        optimizer_bytes=int(round(trainable * state * split.optimizer)),
        master_param_bytes=int(round(trainable * 4 * split.master)),
    )


def model_state_bytes(
    arch: dict,
    quantizer: Any,
    adapter: Any,
    split: MemorySplit,
    precision: str = "bf16",
    gpus_per_node: int | None = None,
) -> tuple[int, int]:
    """``(per-GPU, per-node CPU)`` bytes of model states (weights, adapter, gradients, optimizer) at the
    peak, as the planner estimates them, without activations, logits or runtime overhead."""
    per_node = gpus_per_node or split.world_size
    est = estimate(arch, quantizer, adapter, split, Workload(precision=precision), gpus_per_node=per_node)
    gpu = sum(est.per_gpu[part] for part in ("weights", "adapter", "gradients", "optimizer"))
    return gpu, est.cpu_bytes
