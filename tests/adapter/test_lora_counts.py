"""LoRA: trainable counts (what the planner prices) equal what peft builds; DoRA/rsLoRA on k-bit bases."""

from __future__ import annotations

import json

import pytest
import torch

from xtune.errors import ConfigError
from xtune.registry import ADAPTERS


def build(adapter: dict, quantizer: dict | None = None):
    from xtune.model import SupervisedFinetune

    return SupervisedFinetune(path="embedded:tiny-qwen2", adapter=adapter, quantizer=quantizer)


@pytest.mark.parametrize(
    "adapter",
    [
        dict(type="LoRA", r=4),
        dict(type="LoRA", r=8, use_dora=True),
        dict(type="LoRA", r=4, modules_to_save=["lm_head"], bias="all"),
        dict(type="LoRA", r=4, target_modules=["q_proj", "v_proj"], bias="lora_only"),
        dict(type="LoRA", r=4, target_modules=["q_proj", "down_proj", "lm_head"], use_dora=True),
        dict(type="Freeze", trainable=["lm_head", "layers.3"]),
        dict(type="Full"),
    ],
)
def test_trainable_params_match_the_built_model(tiny_model_dir, adapter):
    arch = json.loads((tiny_model_dir / "config.json").read_text())
    model = build(adapter)
    built = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert ADAPTERS.build(adapter).trainable_params(arch) == built


def test_rslora_scales_by_sqrt_r():
    model = build(dict(type="LoRA", r=16, alpha=32, use_rslora=True), dict(type="BnB4bit"))
    q_proj = model.hf_model().model.layers[0].self_attn.q_proj
    assert q_proj.scaling["default"] == pytest.approx(32 / 16**0.5)


@pytest.mark.parametrize("quantizer", ["BnB4bit", "BnB8bit"])
def test_lora_on_kbit_base_gets_gradients_only_in_adapters(quantizer):
    model = build(dict(type="LoRA", r=4, use_rslora=True), dict(type=quantizer))
    ids = torch.randint(3, 380, (2, 12))
    model(input_ids=ids, labels=ids)["loss"].backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    # lora_B starts at zero, so at step 0 only it receives gradient (lora_A gets B^T x upstream = 0)
    assert all(p.grad.abs().sum() > 0 for n, p in trainable.items() if "lora_B" in n)


def test_dora_on_4bit_base_trains_its_magnitude():
    model = build(dict(type="LoRA", r=4, use_dora=True), dict(type="BnB4bit"))
    ids = torch.randint(3, 380, (2, 12))
    model(input_ids=ids, labels=ids)["loss"].backward()
    magnitudes = [p for n, p in model.named_parameters() if "lora_magnitude_vector" in n]
    assert len(magnitudes) == 4 * 7 and all(p.grad is not None for p in magnitudes)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for CPU runs")
def test_dora_on_8bit_base_is_refused_on_cpu():
    with pytest.raises(ConfigError, match="DoRA on an 8-bit"):
        build(dict(type="LoRA", r=4, use_dora=True), dict(type="BnB8bit"))


@pytest.mark.parametrize(
    "kwargs, key", [(dict(r=0), "r"), (dict(dropout=1.0), "dropout"), (dict(bias="some"), "bias")]
)
def test_bad_lora_settings_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f"model.adapter.{key}"):
        ADAPTERS.build(dict(type="LoRA", **kwargs))
