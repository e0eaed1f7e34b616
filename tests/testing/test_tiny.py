"""The embedded tiny model: the right size, Qwen's special tokens and chat template, cached once."""

from __future__ import annotations

from xtune.planner.arch import count_params
from xtune.testing import materialize_tiny


def test_tiny_model_shape_and_tokens(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    total = sum(p.numel() for p in model.parameters())
    assert 500_000 < total < 10_000_000
    assert total == count_params(model.config.to_dict())
    assert model.config.model_type == "qwen2"
    assert tiny_tokenizer.convert_tokens_to_ids("<|im_end|>") == tiny_tokenizer.eos_token_id
    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi")


def test_materialize_is_cached_and_atomic(tmp_path):
    first = materialize_tiny(root=tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    second = materialize_tiny(root=tmp_path)
    assert first == second
    assert (second / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging dirs left behind


def test_build_is_deterministic(tmp_path):
    import torch
    from safetensors.torch import load_file

    a = load_file(materialize_tiny(root=tmp_path / "a") / "model.safetensors")
    b = load_file(materialize_tiny(root=tmp_path / "b") / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
