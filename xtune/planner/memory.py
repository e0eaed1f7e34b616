"""Per-GPU memory of one training step, part by part, from shapes and the run's components.

Everything here is arithmetic on a ``config.json`` dict plus what the components say about themselves
(``Quantizer.bits_per_base_param``, ``Adapter.trainable_params``, ``MemorySplit`` from the strategy).
The peak is taken at the start of backward, when the model states, all stored activations and the
loss's logits are alive together, or later if a decoder layer's backward working set exceeds the logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xtune.planner.arch import (
    _dims,
    count_params,
    largest_linear_params,
    leaf_modules,
    linear_shapes,
    quantizable_params,
)
from xtune.planner.components import OptimizerSpec, optimizer_spec
from xtune.planner.split import MemorySplit
from xtune.planner.units import GiB, fmt_bytes, fmt_count

PARTS = ("weights", "adapter", "gradients", "optimizer", "activations", "logits", "overhead")

# Runtime overhead: an assumption, not a measurement. A CUDA context with cuBLAS/cuDNN workspaces
# takes ~0.5-1 GiB per process (PyTorch "CUDA semantics" notes; nvidia-smi shows it before the first
# tensor), NCCL adds its communicator buffers in multi-process runs, and the caching allocator holds
# freed blocks it cannot reuse for differently sized requests (fragmentation).
RUNTIME_BYTES = 1 * GiB
NCCL_BYTES = GiB // 2
FRAGMENTATION = 0.05
# DeepSpeed's estimators multiply CPU-side model states by this for pinned staging buffers
# (`additional_buffer_factor=1.5` in estimate_zero2/3_model_states_mem_needs).
CPU_BUFFER_FACTOR = 1.5
# Logits-sized fp32 tensors alive at the loss's backward peak: torch's cross_entropy is log_softmax +
# nll_loss; log_softmax keeps its fp32 output for backward, nll_loss's backward produces a dense fp32
# gradient of it, and log_softmax's backward allocates the fp32 gradient of its input: 3 × 4 bytes.
LOGIT_BYTES = 12

ASSUMPTIONS = (
    f"runtime overhead: {RUNTIME_BYTES / GiB:.1f} GiB per GPU for the CUDA context and workspaces, "
    f"+{NCCL_BYTES / GiB:.1f} GiB of NCCL buffers in multi-process runs, +{FRAGMENTATION:.0%} of the rest "
    "for allocator fragmentation (assumed, not measured)",
    "peak = model states + stored activations + the larger of the loss's logits peak and one decoder "
    "layer's backward working set (they happen one after the other)",
    "without packing, rows are padded to the longest in the batch: the plan takes the worst case, every "
    "row at the full sequence length (packing fills rows to it)",
    "CPU RAM counts offloaded model states x1.5 for staging buffers (DeepSpeed's estimator factor), "
    "not the RAM each process needs while loading the checkpoint",
)


@dataclass(frozen=True)
class Workload:
    """What one training step processes and how.

    Attributes:
        seq_len: tokens per row (``max_length`` or the packing length).
        micro_batch: rows per GPU per step (``train_dataloader.batch_size``).
        gradient_checkpointing: recompute each decoder layer in backward.
        precision: ``'bf16'``/``'fp16'`` (16-bit activations) or ``'fp32'``.
        model_dtype: ``SupervisedFinetune.dtype`` (``'auto'``: fp32 when the base trains or in fp32
            runs, else the 16-bit compute dtype).
        loss_chunk: ``ChunkedCrossEntropy.chunk_size``; None for the full-logits ``CrossEntropy``.
        attn_implementation: ``None``/``'sdpa'``/``'flash_attention_2'`` (no seq² scores) or ``'eager'``.
        optimizer: optimizer-state cost.
    """

    seq_len: int = 2048
    micro_batch: int = 1
    gradient_checkpointing: bool = True
    precision: str = "bf16"
    model_dtype: str = "auto"
    loss_chunk: int | None = None
    attn_implementation: str | None = None
    optimizer: OptimizerSpec = field(default_factory=lambda: optimizer_spec(None))

    @property
    def compute_bytes(self) -> int:
        return 4 if self.precision == "fp32" else 2

    @property
    def tokens(self) -> int:
        return self.seq_len * self.micro_batch


@dataclass
class Estimate:
    """Per-GPU bytes by part (plus ``total``), CPU RAM for offloaded states, and how each was computed."""

    per_gpu: dict[str, int]
    cpu_bytes: int
    details: dict[str, str]
    split: MemorySplit
    params: int
    trainable: int

    @property
    def total(self) -> int:
        return self.per_gpu["total"]


_DTYPE_BYTES = {"float32": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "fp16": 2}


def _weight_bytes(workload: Workload, trains_base: bool, split: MemorySplit) -> int:
    """Bytes per unquantized weight as the run holds it (mirrors ``xtune.model.sft.resolve_dtype``)."""
    if split.compute_dtype_params:
        return workload.compute_bytes  # DeepSpeed casts the module to bf16/fp16 (engine.py, `module.half()`)
    if workload.model_dtype != "auto":
        return _DTYPE_BYTES[workload.model_dtype]
    return 4 if trains_base or workload.precision == "fp32" else workload.compute_bytes


def _targeted_inputs(arch: dict, adapter: Any) -> int:
    """Sum of ``in_features`` over one layer's linears an adapter wraps (each gets its own dropout)."""
    targets = getattr(adapter, "target_modules", "all-linear")
    return sum(
        fan_in for name, (fan_in, _), _ in linear_shapes(arch) if targets == "all-linear" or name in targets
    )


def activation_parts(
    arch: dict, workload: Workload, adapter: Any, quantized: bool, share: float = 1.0
) -> tuple[int, int]:
    """``(stored, working)``: activations kept for backward and a layer's backward working set, per GPU.

    Method of Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models",
    arXiv:2205.05198, §4.1: count every tensor autograd saves, per token and layer), applied to
    transformers' Qwen2/Llama decoder layer with SDPA/flash attention (no seq² scores stored):

    - RMSNorm upcasts its input to fp32 and keeps it (``Qwen2RMSNorm``): 2 norms × 4h bytes;
    - the normalised inputs of q/k/v and gate/up, kept for the LoRA/weight gradients: 2 × a·h;
    - SDPA keeps q and k, v after ``repeat_kv`` (3 × a·heads·head_dim) and its output, and o_proj keeps
      the re-laid-out output: 2 × a·heads·head_dim;
    - SwiGLU keeps gate, up, silu(gate) and the product fed to down_proj: 4 × a·intermediate;
    - LoRA dropout (p > 0): peft applies one ``nn.Dropout`` per wrapped linear, keeping its output
      and a bool mask: (a + 1) × in_features each;
    - eager attention adds the fp32 softmax and its cast: (4 + a) × heads × seq per token.

    ``a`` is 2 bytes for bf16/fp16 and 4 for fp32. With gradient checkpointing (HF's per-layer
    ``torch.utils.checkpoint``) only each layer's input (a·h) is kept and one layer is recomputed at a
    time. The working set is what one layer's backward adds: the recomputed layer (with checkpointing),
    gradients of the widest tensors in flight (gate/up and q/k/v) and, for a quantized base, one weight
    dequantized to the compute dtype (bitsandbytes dequantizes per matmul). It exists only while decoder
    layers run backward, after the loss's logits are freed, so :func:`estimate` counts the larger of the
    two rather than both.
    """
    hidden, heads, _, head_dim, inter, layers = _dims(arch)
    a = workload.compute_bytes
    q_dim = heads * head_dim
    trains_base = getattr(adapter, "trains_base", False)
    per_layer = 2 * 4 * hidden + 2 * a * hidden + 3 * a * q_dim + 2 * a * q_dim + 4 * a * inter
    if trains_base:
        per_layer += 2 * a * hidden  # trainable norm weights: mul() also keeps the normalised input
    dropout = float(getattr(adapter, "dropout", 0.0) or 0.0)
    if dropout > 0 and not trains_base:
        per_layer += (a + 1) * _targeted_inputs(arch, adapter)
    if workload.attn_implementation == "eager":
        per_layer += (4 + a) * heads * workload.seq_len
    outside = 4 * hidden + a * hidden  # final norm's fp32 input and lm_head's input
    in_flight = a * (2 * inter + 3 * q_dim)
    if workload.gradient_checkpointing:
        stored, working = layers * a * hidden * share + outside, per_layer + in_flight
    else:
        stored, working = layers * per_layer * share + outside, in_flight
    working *= workload.tokens
    if quantized:
        working += largest_linear_params(arch) * a
    return int(stored * workload.tokens), int(working)


def activation_bytes(
    arch: dict, workload: Workload, adapter: Any, quantized: bool, share: float = 1.0
) -> int:
    """Stored activations plus backward's working set (see :func:`activation_parts`)."""
    return sum(activation_parts(arch, workload, adapter, quantized, share))


def logits_bytes(arch: dict, workload: Workload) -> int:
    """fp32 logits at the loss's peak: ``LOGIT_BYTES × tokens × vocab``, or per chunk for a chunked loss.

    ``ChunkedCrossEntropy`` keeps at most one chunk of logits alive (its fused path needs less:
    16-bit logits, one fp32 buffer reused in place and the 16-bit gradient; its checkpointed path
    recomputes a chunk through plain cross-entropy, which is the bound used here).
    """
    tokens = workload.tokens
    if workload.loss_chunk:
        tokens = min(tokens, workload.loss_chunk)
    return LOGIT_BYTES * tokens * arch["vocab_size"]


def estimate(
    arch: dict,
    quantizer: Any,
    adapter: Any,
    split: MemorySplit,
    workload: Workload,
    gpus_per_node: int = 8,
) -> Estimate:
    """Per-GPU memory of a training step with these components on ``split.world_size`` GPUs."""
    c = workload.compute_bytes
    params = count_params(arch)
    trains_base = bool(adapter.trains_base)
    trainable = int(adapter.trainable_params(arch))
    quantized = bool(getattr(quantizer, "quantized", False))
    weight_bytes = _weight_bytes(workload, trains_base, split)
    details: dict[str, str] = {}

    # -- weights: the base model (all of it, trainable or not, for full fine-tuning) ------------------
    if quantized:
        q_params = quantizable_params(arch)
        q_bits = float(quantizer.bits_per_base_param())
        # Unquantized weights (embeddings, lm_head, norms, biases): peft's prepare_model_for_kbit_training
        # upcasts them to fp32; the quantizer says so through `bits_per_unquantized_param`.
        upcast = getattr(quantizer, "bits_per_unquantized_param", None)
        u_bytes = c if split.compute_dtype_params or upcast is None else upcast() / 8
        base_total = q_params * q_bits / 8 + (params - q_params) * u_bytes
        how = f"{fmt_count(q_params)} × {q_bits:.3f} bits + {fmt_count(params - q_params)} unquantized × {u_bytes * 8:.0f} bits"
    else:
        q_params, q_bits, u_bytes = 0, 0.0, weight_bytes
        base_total = params * weight_bytes
        how = f"{fmt_count(params)} × {weight_bytes * 8} bits"
    on_gpu_params = 0.0 if split.offload_params else split.params
    weights = base_total * on_gpu_params
    if split.params < 1:
        how = f"({how}) ÷ {round(1 / split.params)} GPUs" if not split.offload_params else f"{how} in CPU RAM"
    gathered, gathered_numel = 0.0, 0
    if split.gathers_module:
        # ZeRO-3 gathers each module's full weights for its forward/backward (stage3.py `fetch_sub_module`).
        linears = {name for name, _, _ in linear_shapes(arch)}
        sizes = [(numel * (q_bits / 8 if quantized and name in linears else u_bytes), numel)
                 for name, numel, _ in leaf_modules(arch)]  # fmt: skip
        gathered, gathered_numel = max(sizes)
        weights += gathered
        how += f" + largest module gathered whole ({fmt_bytes(gathered)})"
    details["weights"] = how

    # -- adapter: trainable weights that are not part of the base ----------------------------------------
    # peft keeps adapter weights in fp32 (`autocast_adapter_dtype=True` in get_peft_model) unless the
    # engine casts the whole module to the compute dtype (DeepSpeed), which keeps fp32 masters instead.
    train_bytes = weight_bytes if trains_base else (c if split.compute_dtype_params else 4)
    adapter_total = 0 if trains_base else trainable * train_bytes
    adapter_bytes = adapter_total * on_gpu_params
    details["adapter"] = (
        "none: the base trains" if trains_base else f"{fmt_count(trainable)} params × {train_bytes * 8} bits"
    )

    # -- gradients, master weights and optimizer states of the trainable parameters --------------------
    grads = trainable * train_bytes * split.grads
    grad_how = [f"{fmt_count(trainable)} × {train_bytes * 8} bits × {split.grads:.3g}"] if split.grads else []
    state_bytes = workload.optimizer.state_bytes(4 if split.master else train_bytes)
    offloaded = trainable * (4 * split.master + 4 * split.fp32_grads + state_bytes * split.optimizer)
    if not split.offload_optimizer:
        grads += trainable * 4 * split.fp32_grads
        if split.fp32_grads:
            grad_how.append(f"fp32 partition ({split.fp32_grads:.3g})")
    if split.gathers_module and trains_base:
        grads += gathered_numel * c  # the gathered module's 16-bit gradient before reduce-scatter
        grad_how.append("gathered module's gradient")
    details["gradients"] = " + ".join(grad_how) or "kept in CPU RAM (offload)"
    optimizer = (
        0.0 if split.offload_optimizer else trainable * (4 * split.master + state_bytes * split.optimizer)
    )
    master = " + fp32 master" if split.master else ""
    details["optimizer"] = (
        f"{workload.optimizer.name}: {state_bytes:g} B/param{master} × {split.optimizer:.3g}"
        if not split.offload_optimizer
        else f"{workload.optimizer.name} states in CPU RAM (offload)"
    )

    # -- activations and logits -------------------------------------------------------------------------
    stored, working = activation_parts(arch, workload, adapter, quantized, split.activations)
    logits = logits_bytes(arch, workload)
    # The loss's peak and a decoder layer's backward happen one after the other: count the larger.
    activations = stored + max(0, working - logits)
    kept = "layer inputs kept (checkpointing)" if workload.gradient_checkpointing else "every layer kept"
    share = f" for 1/{split.world_size} of the layers" if split.activations < 1 else ""
    later = (
        f"a layer's backward ({fmt_bytes(working)}) follows the loss and fits under its peak"
        if working <= logits
        else f"+ a layer's backward ({fmt_bytes(working)}) beyond the loss's peak"
    )
    details["activations"] = (
        f"{workload.seq_len} tokens × batch {workload.micro_batch}: {kept} {fmt_bytes(stored)}{share}; {later}"
    )
    chunk = f"chunks of {workload.loss_chunk}" if workload.loss_chunk else f"{workload.tokens} tokens"
    details["logits"] = f"{chunk} × {arch['vocab_size']} vocab × {LOGIT_BYTES} B (fp32)"

    # -- overhead ---------------------------------------------------------------------------------------
    buffers = split.comm_buffer_elems * c
    tensors = weights + adapter_bytes + grads + optimizer + activations + logits + buffers
    runtime = RUNTIME_BYTES + (NCCL_BYTES if split.processes > 1 else 0)
    overhead = runtime + buffers + FRAGMENTATION * tensors
    details["overhead"] = f"{fmt_bytes(runtime)} runtime + {FRAGMENTATION:.0%} fragmentation" + (
        f" + {fmt_bytes(buffers)} DeepSpeed buckets" if buffers else ""
    )

    per_gpu = dict(
        weights=weights,
        adapter=adapter_bytes,
        gradients=grads,
        optimizer=optimizer,
        activations=activations,
        logits=logits,
        overhead=overhead,
    )
    per_gpu = {k: int(round(v)) for k, v in per_gpu.items()}
    per_gpu["total"] = sum(per_gpu.values())

    cpu_rank = offloaded if split.offload_optimizer else 0.0
    if split.offload_params:
        cpu_rank += (base_total + adapter_total) * split.params
    local_ranks = min(split.world_size, gpus_per_node)
    cpu_bytes = int(cpu_rank * local_ranks * CPU_BUFFER_FACTOR)
    return Estimate(per_gpu, cpu_bytes, details, split, params, trainable)
