"""The per-GPU memory model: each part's arithmetic and how strategies move it."""

from __future__ import annotations

import pytest

from xtune.planner.arch import count_params, largest_module_params, quantizable_params
from xtune.planner.components import build_adapter, build_quantizer, optimizer_spec
from xtune.planner.memory import LOGIT_BYTES, Workload, activation_bytes, estimate, logits_bytes
from xtune.planner.split import MemorySplit
from xtune.planner.table import BUILTIN

Q7 = BUILTIN["Qwen1.5-7B"]
Q14 = BUILTIN["Qwen1.5-14B"]
NF4 = build_quantizer(dict(type="BnB4bit"))
NOQ = build_quantizer(dict(type="NoQuant"))
LORA = build_adapter(dict(type="LoRA", r=64, alpha=16, dropout=0.0))
FULL = build_adapter(dict(type="Full"))


def test_qlora_weights_use_the_quantizers_own_bits():
    est = estimate(Q14, NF4, LORA, MemorySplit.single(), Workload())
    q = quantizable_params(Q14)
    # NF4 + double quant (4.127 bits) for linear weights; the rest upcast to fp32 by peft's kbit recipe
    expected = (
        q * NF4.bits_per_base_param() / 8 + (count_params(Q14) - q) * NF4.bits_per_unquantized_param() / 8
    )
    assert est.per_gpu["weights"] == round(expected)
    assert NF4.bits_per_base_param() == pytest.approx(4.127, abs=1e-3)


def test_lora_states_are_16_bytes_per_trainable_param_on_one_gpu():
    est = estimate(Q7, NF4, LORA, MemorySplit.single(), Workload())
    t = LORA.trainable_params(Q7)
    assert est.trainable == t
    # fp32 adapter weights (peft autocast_adapter_dtype), fp32 grads, AdamW's two fp32 moments
    assert (est.per_gpu["adapter"], est.per_gpu["gradients"], est.per_gpu["optimizer"]) == (
        4 * t,
        4 * t,
        8 * t,
    )


def test_full_finetuning_is_16_bytes_per_param_without_sharding():
    est = estimate(Q7, NOQ, FULL, MemorySplit.single(), Workload())
    p = count_params(Q7)
    states = est.per_gpu["weights"] + est.per_gpu["gradients"] + est.per_gpu["optimizer"]
    assert states == 16 * p
    assert est.per_gpu["adapter"] == 0


def test_eight_bit_adam_keeps_two_bytes_per_param():
    work = Workload(optimizer=optimizer_spec(dict(type="PagedAdamW8bit")))
    est = estimate(Q7, NOQ, FULL, MemorySplit.single(), work)
    assert est.per_gpu["optimizer"] == 2 * count_params(Q7)


def test_ddp_does_not_reduce_per_gpu_memory():
    single = estimate(Q14, NF4, LORA, MemorySplit.single(), Workload())
    ddp = estimate(Q14, NF4, LORA, MemorySplit.ddp(8), Workload())
    for part in ("weights", "adapter", "gradients", "optimizer", "activations", "logits"):
        assert ddp.per_gpu[part] == single.per_gpu[part]
    assert ddp.total > single.total  # NCCL buffers on top
    no_view = estimate(Q14, NF4, LORA, MemorySplit.ddp(8, gradient_as_bucket_view=False), Workload())
    assert no_view.per_gpu["gradients"] == 2 * ddp.per_gpu["gradients"]


def test_zero_stages_partition_as_the_zero_paper_says():
    p = count_params(Q7)

    def states(stage, n):
        est = estimate(Q7, NOQ, FULL, MemorySplit.zero(stage, n), Workload())
        return est.per_gpu["weights"] + est.per_gpu["gradients"] + est.per_gpu["optimizer"]

    # ZeRO paper (Fig. 1) + DeepSpeed's fp32 gradient partition (4/N): stage 1 4Ψ+16Ψ/N, stage 2 2Ψ+18Ψ/N
    assert states(1, 8) == pytest.approx(4 * p + 16 * p / 8, rel=1e-6)
    assert states(2, 8) == pytest.approx(2 * p + 18 * p / 8, rel=1e-6)
    # stage 3: 18Ψ/N plus one module gathered whole (16-bit weights and gradient)
    assert states(3, 8) == pytest.approx(18 * p / 8 + 4 * largest_module_params(Q7), rel=1e-6)
    assert states(3, 64) < states(3, 8) / 4


def test_zero3_shards_the_frozen_base_and_zero2_does_not():
    z2 = estimate(Q14, NF4, LORA, MemorySplit.zero(2, 4), Workload())
    z3 = estimate(Q14, NF4, LORA, MemorySplit.zero(3, 4), Workload())
    embedding_bf16 = 152064 * 5120 * 2  # the largest module, gathered whole for its forward
    assert z3.per_gpu["weights"] == pytest.approx(z2.per_gpu["weights"] / 4 + embedding_bf16, rel=1e-6)
    assert z3.per_gpu["adapter"] == pytest.approx(z2.per_gpu["adapter"] / 4, rel=1e-6)


def test_offload_moves_optimizer_states_to_cpu():
    n = 4
    on_gpu = estimate(Q7, NOQ, FULL, MemorySplit.zero(3, n), Workload())
    offload = estimate(
        Q7, NOQ, FULL, MemorySplit.zero(3, n, offload_optimizer=True, offload_params=True), Workload()
    )
    assert offload.per_gpu["optimizer"] == 0
    assert offload.per_gpu["weights"] < on_gpu.per_gpu["weights"]
    # per node: 2 (16-bit weights) + 4 (fp32 master) + 4 (fp32 grads) + 8 (Adam) bytes, x1.5 staging
    assert offload.cpu_bytes == pytest.approx(18 * count_params(Q7) * 1.5, rel=1e-6)
    assert on_gpu.cpu_bytes == 0


def test_gradient_checkpointing_keeps_only_layer_inputs():
    tokens = 4096
    work = Workload(seq_len=tokens, gradient_checkpointing=False)
    full = activation_bytes(Q7, work, LORA, quantized=False)
    ckpt = activation_bytes(Q7, Workload(seq_len=tokens), LORA, quantized=False)
    h, inter, layers = 4096, 11008, 32
    per_layer = 8 * h + 4 * h + 6 * h + 4 * h + 8 * inter  # fp32 norm inputs, normed, q/k/v, attn out, SwiGLU
    extra = 4 * h + 2 * h + 2 * (2 * inter + 3 * h)  # final norm + head input + backward working set
    assert full == tokens * (layers * per_layer + extra)
    assert ckpt == tokens * (layers * 2 * h + per_layer + extra)
    assert full / ckpt > 10


def test_activations_scale_with_tokens_and_lora_dropout():
    one = activation_bytes(Q7, Workload(seq_len=1024), LORA, quantized=False)
    assert activation_bytes(Q7, Workload(seq_len=1024, micro_batch=4), LORA, quantized=False) == 4 * one
    dropout = build_adapter(dict(type="LoRA", r=64, dropout=0.1))
    assert activation_bytes(Q7, Workload(seq_len=1024), dropout, quantized=False) > one


def test_logits_are_fp32_unless_the_loss_is_chunked():
    assert logits_bytes(Q14, Workload(seq_len=8192)) == LOGIT_BYTES * 8192 * 152064
    assert logits_bytes(Q14, Workload(seq_len=8192, loss_chunk=1024)) == LOGIT_BYTES * 1024 * 152064
    assert LOGIT_BYTES * 8192 * 152064 / 2**30 == pytest.approx(13.9, abs=0.1)  # the 8k-token cliff


def test_model_parallel_splits_layers_but_not_the_logits():
    single = estimate(Q14, NOQ, LORA, MemorySplit.single(), Workload())
    mp = estimate(Q14, NOQ, LORA, MemorySplit.model_parallel(4), Workload())
    assert mp.per_gpu["weights"] == pytest.approx(single.per_gpu["weights"] / 4, rel=1e-6)
    assert mp.per_gpu["logits"] == single.per_gpu["logits"]


def test_total_is_the_sum_of_the_parts():
    est = estimate(Q14, NF4, LORA, MemorySplit.zero(2, 2), Workload(seq_len=4096))
    assert est.total == sum(v for k, v in est.per_gpu.items() if k != "total")
    assert set(est.details) == set(est.per_gpu) - {"total"}


def test_logits_peak_and_layer_backward_are_not_counted_twice():
    from xtune.planner.memory import activation_parts

    for work in (Workload(seq_len=8192), Workload(seq_len=2048, loss_chunk=256)):
        est = estimate(Q14, NF4, LORA, MemorySplit.single(), work)
        stored, working = activation_parts(Q14, work, LORA, quantized=True)
        logits = logits_bytes(Q14, work)
        assert est.per_gpu["logits"] == logits
        assert est.per_gpu["activations"] + est.per_gpu["logits"] == stored + max(working, logits)
    # full logits at 8k tokens dwarf one checkpointed layer; a chunked loss leaves the layer as the peak
    assert (
        logits_bytes(Q14, Workload(seq_len=8192))
        > activation_parts(Q14, Workload(seq_len=8192), LORA, True)[1]
    )
