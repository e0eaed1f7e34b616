"""Speed/memory options of SupervisedFinetune and the registered bitsandbytes optimizers."""

from __future__ import annotations

import pytest
import torch

from xtune.model import SupervisedFinetune
from xtune.model.loading import resolve_attn_implementation

TINY = "embedded:tiny-qwen2"
LORA = dict(type="LoRA", r=4, alpha=8, dropout=0.0)


def test_attention_auto_is_sdpa_on_cpu(tiny_model_dir):
    model = SupervisedFinetune(path=TINY, adapter=LORA)
    assert model.hf_model().config._attn_implementation == "sdpa"
    eager = SupervisedFinetune(path=TINY, adapter=LORA, attn_implementation="eager")
    assert eager.hf_model().config._attn_implementation == "eager"


def test_attention_auto_picks_flash_attention_2_only_on_gpu_16bit(monkeypatch):
    import importlib.util

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "flash_attn" else None)
    assert resolve_attn_implementation("auto", torch.bfloat16) == "flash_attention_2"
    assert resolve_attn_implementation("auto", torch.float32) is None  # FA2 has no fp32 kernels
    assert resolve_attn_implementation("sdpa", torch.bfloat16) == "sdpa"  # an explicit choice stands
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert resolve_attn_implementation("auto", torch.bfloat16) is None  # not installed: transformers' pick


def test_compile_wraps_each_layer_and_keeps_the_loss(tiny_model_dir):
    torch.manual_seed(0)
    ids = torch.randint(3, 300, (2, 12))
    compiled = SupervisedFinetune(path=TINY, adapter=LORA, compile=dict(backend="eager"))
    eager = SupervisedFinetune(path=TINY, adapter=LORA)
    eager.load_state_dict(compiled.state_dict())  # same LoRA init on both
    layers = compiled.hf_model().get_decoder().layers
    assert all(layer._compiled_call_impl is not None for layer in layers)
    assert all(layer._compiled_call_impl is None for layer in eager.hf_model().get_decoder().layers)
    loss = compiled(ids, labels=ids)["loss"]
    loss.backward()
    assert abs(loss.item() - eager(ids, labels=ids)["loss"].item()) < 1e-5
    grads = [p.grad for p in compiled.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)


def test_train_restores_a_submodule_left_in_eval_mode(tiny_model_dir):
    model = SupervisedFinetune(path=TINY, adapter=LORA)
    assert model.train() is model and all(m.training for m in model.modules())
    model.llm.eval()  # e.g. a hook that generated text
    model.train()
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("name,state_dtype", [("AdamW8bit", torch.uint8), ("PagedAdamW", torch.float32)])
def test_bitsandbytes_adamw_builds_from_config_and_trains(name, state_dtype):
    from mmengine.optim import build_optim_wrapper

    torch.manual_seed(0)
    model = torch.nn.Linear(256, 64)  # 16k weights: above bitsandbytes' 4096-element 8-bit threshold
    wrapper = build_optim_wrapper(
        model, dict(type="OptimWrapper", optimizer=dict(type=f"xtune.{name}", lr=1e-2, weight_decay=0.0))
    )
    x, y = torch.randn(32, 256), torch.randn(32, 64)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.mse_loss(model(x), y)
        wrapper.update_params(loss)
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    state = wrapper.optimizer.state[model.weight]
    assert state["state1"].dtype == state_dtype  # 8-bit moments: 1 byte per weight instead of 4


def test_optimizer_keys_are_validated(tmp_path):
    from xtune.config import load_config, validate_config
    from xtune.errors import ConfigError

    path = tmp_path / "cfg.py"
    path.write_text(
        "model = dict(type='SupervisedFinetune', path='embedded:tiny-qwen2')\n"
        "optim_wrapper = dict(optimizer=dict(type='PagedAdamW8bit', lr=2e-4, min_8bit_size=4096))\n"
    )
    validate_config(load_config(path))
    path.write_text(
        "model = dict(type='SupervisedFinetune', path='embedded:tiny-qwen2', compile=True)\n"
        "optim_wrapper = dict(optimizer=dict(type='AdamW8bit', lr=2e-4, momentum=0.9))\n"
    )
    with pytest.raises(ConfigError, match="momentum"):
        validate_config(load_config(path))


class _Captured(Exception):
    pass


@pytest.mark.parametrize(
    "quantized,shards,expected", [(True, False, {"": 0}), (True, True, None), (False, False, None)]
)
def test_quantized_models_load_straight_onto_the_gpu(
    monkeypatch, tiny_model_dir, quantized, shards, expected
):
    """bitsandbytes quantizes on the GPU as weights land: no 16-bit copy of the model in CPU RAM first."""
    import transformers

    from xtune.model.loading import load_causal_lm

    seen = {}

    def fake_from_pretrained(path, **kwargs):
        seen.update(kwargs)
        raise _Captured

    class Quantizer:
        def __init__(self):
            self.quantized = quantized

        def hf_quantization_config(self, dtype, shards_params=False):
            return None

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    with pytest.raises(_Captured):
        load_causal_lm(TINY, Quantizer(), adapter=None, dtype=torch.bfloat16, shards_params=shards)
    assert seen.get("device_map") == expected
