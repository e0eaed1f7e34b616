"""BnB4bit / BnB8bit: storage arithmetic, the transformers config they produce, and a prepared 4-bit model."""

from __future__ import annotations

import pytest
import torch

from xtune.errors import ConfigError
from xtune.quant import BnB4bit, BnB8bit, NoQuant


def test_bits_per_base_param_follow_the_papers():
    # QLoRA paper: NF4 + double quantization = 4 + 8/64 + 32/(64*256) = 4.127 bits; without it 4 + 32/64.
    assert BnB4bit().bits_per_base_param() == pytest.approx(4.127, abs=5e-4)
    assert BnB4bit(double_quant=False).bits_per_base_param() == pytest.approx(4.5)
    # LLM.int8(): one fp32 scale per row of `in_features` weights.
    assert BnB8bit().bits_per_base_param(4096) == pytest.approx(8 + 32 / 4096)
    assert BnB8bit().bits_per_base_param(5120) == pytest.approx(8.00625)
    assert NoQuant().bits_per_base_param() == 16.0
    assert BnB4bit().bits_per_unquantized_param() == 32.0  # peft upcasts embeddings/head/norms to fp32


def test_4bit_config_quant_storage_follows_sharding():
    q = BnB4bit(quant_type="fp4", double_quant=False)
    plain = q.hf_quantization_config(torch.bfloat16, shards_params=False)
    assert plain.load_in_4bit and not plain.load_in_8bit
    assert plain.bnb_4bit_quant_type == "fp4" and plain.bnb_4bit_use_double_quant is False
    assert plain.bnb_4bit_compute_dtype == torch.bfloat16
    assert plain.bnb_4bit_quant_storage == torch.uint8
    sharded = q.hf_quantization_config(torch.bfloat16, shards_params=True)
    assert sharded.bnb_4bit_quant_storage == torch.bfloat16  # uniform dtype for ZeRO-3 / FSDP flattening

    explicit = BnB4bit(compute_dtype="float16", quant_storage="float32")
    config = explicit.hf_quantization_config(torch.bfloat16, shards_params=False)
    assert config.bnb_4bit_compute_dtype == torch.float16 and config.bnb_4bit_quant_storage == torch.float32
    auto = BnB4bit(compute_dtype="float16").hf_quantization_config(torch.bfloat16, shards_params=True)
    assert auto.bnb_4bit_quant_storage == torch.float16  # the compute dtype the user chose, not the model's


def test_8bit_config():
    config = BnB8bit(threshold=4.0).hf_quantization_config(torch.float32)
    assert config.load_in_8bit and not config.load_in_4bit and config.llm_int8_threshold == 4.0


@pytest.mark.parametrize(
    "kwargs, key",
    [(dict(quant_type="int4"), "quant_type"), (dict(compute_dtype="fp64"), "compute_dtype"),
     (dict(quant_storage="int8"), "quant_storage")],
)  # fmt: skip
def test_bad_4bit_settings_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f"model.quantizer.{key}"):
        BnB4bit(**kwargs)


def test_prepared_4bit_model_is_frozen_and_never_repacks(tiny_model_dir):
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM

    quantizer = BnB4bit()
    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir,
        dtype=torch.float32,
        quantization_config=quantizer.hf_quantization_config(torch.float32),
    )
    model = quantizer.prepare_for_training(model, gradient_checkpointing=True)
    linears = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(linears) == 4 * 7  # every decoder linear of the 4-layer model; lm_head stays unquantized
    assert all(m.support_avx512bf16_for_cpu is False for m in linears)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(m.weight.dtype == torch.uint8 for m in linears)
    assert model.is_gradient_checkpointing
    # An eval-mode, no-grad forward is where bitsandbytes would repack weights on AVX512-BF16 CPUs.
    before = [m.weight.data.clone() for m in linears]
    model.eval()
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 5, 9, 30]]))
    assert all(torch.equal(b, m.weight.data) for b, m in zip(before, linears))
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for m in linears)
