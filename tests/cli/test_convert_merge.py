"""`xtune convert` and `xtune merge`: checkpoint → adapter / full model → merged model, logits checked."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from xtune.cli.convert import main as convert
from xtune.cli.merge import main as merge

pytestmark = pytest.mark.slow
PROMPT = "<|im_start|>user\nReverse the letters.\nc a b<|im_end|>\n<|im_start|>assistant\n"


def _logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits[0]


@pytest.fixture(scope="module")
def adapter_dir(repo, demo_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted") / "adapter"
    code = convert([str(demo_run / "iter_60.pth"), "--config", str(repo / "configs/demo/tiny_qwen_lora.py"),
                    "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_convert_lora_checkpoint_matches_the_training_export(adapter_dir, demo_run, tiny_model_dir):
    converted = load_file(adapter_dir / "adapter_model.safetensors")
    exported = load_file(demo_run / "hf" / "adapter_model.safetensors")
    assert sorted(converted) == sorted(exported)
    assert any("lm_head" in k for k in converted)  # modules_to_save travels with the adapter
    for key, tensor in exported.items():
        torch.testing.assert_close(converted[key], tensor, rtol=0, atol=0)
    assert max(t.abs().max().item() for k, t in converted.items() if "lora_B" in k) > 1e-3  # trained
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)
    assert (adapter_dir / "tokenizer.json").is_file()


def test_merged_model_logits_equal_base_plus_adapter(adapter_dir, tiny_model_dir, tiny_tokenizer, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    code = merge(["--base", "embedded:tiny-qwen2", "--adapter", str(adapter_dir), "--out", str(out),
                  "--dtype", "fp32", "--max-shard-size", "1MB"])  # fmt: skip
    assert code == 0
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) > 1 and (out / "model.safetensors.index.json").is_file()
    assert not list(out.glob("*.bin"))
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == [
        tiny_tokenizer.convert_tokens_to_ids("<|im_end|>"),
        tiny_tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    ]

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    plain = _logits(base, tiny_tokenizer)
    expected = _logits(PeftModel.from_pretrained(base, str(adapter_dir)), tiny_tokenizer)
    merged = AutoModelForCausalLM.from_pretrained(out)  # a plain transformers load, no peft
    assert merged.dtype == torch.float32
    torch.testing.assert_close(_logits(merged, tiny_tokenizer), expected, rtol=1e-5, atol=1e-5)
    assert (expected - plain).abs().max() > 0.1  # the adapter changes the model: the check can fail


def test_merge_refuses_a_quantized_base(tmp_path, adapter_dir, capsys):
    base = tmp_path / "qwen-4bit"
    base.mkdir()
    config = {
        "model_type": "qwen2",
        "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True},
    }
    (base / "config.json").write_text(json.dumps(config))
    code = merge(["--base", str(base), "--adapter", str(adapter_dir), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "quantized weights" in err and "16-bit" in err
    assert not (tmp_path / "out").exists()


def test_convert_refuses_a_checkpoint_of_another_config(repo, demo_run, tmp_path, capsys):
    code = convert([str(demo_run / "iter_60.pth"), "--config", str(repo / "configs/demo/tiny_qwen_lora.py"),
                    "--out", str(tmp_path / "x"), "--cfg-options", "model.adapter.r=8"])  # fmt: skip
    assert code == 2
    assert "does not match this config's model" in capsys.readouterr().err


def test_convert_full_finetune_checkpoint_to_hf_model(repo, train, tmp_path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    config = tmp_path / "full.py"
    config.write_text(
        textwrap.dedent(f"""
        _base_ = ["{repo}/configs/demo/tiny_qwen_lora.py"]
        model = dict(adapter=dict(_delete_=True, type="Full"))
        chat_prompts = []
        train_cfg = dict(max_iters=2)
        default_hooks = dict(checkpoint=dict(interval=2))
        """)
    )
    code, work = train(config)
    assert code == 0
    out = tmp_path / "full_hf"
    assert (
        convert([str(work / "iter_2.pth"), "--config", str(config), "--out", str(out), "--dtype", "bf16"])
        == 0
    )
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.dtype == torch.bfloat16
    weights = torch.load(work / "iter_2.pth", weights_only=True)["state_dict"]
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, weights[f"llm.{name}"].to(torch.bfloat16), rtol=0, atol=0)
    exported = AutoModelForCausalLM.from_pretrained(work / "hf", dtype=torch.bfloat16)
    torch.testing.assert_close(_logits(model, tiny_tokenizer), _logits(exported, tiny_tokenizer))


def test_qlora_checkpoint_converts_and_merges_onto_the_16bit_base(
    repo, train, tmp_path, tiny_model_dir, tiny_tokenizer
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = repo / "configs/demo/tiny_qwen_qlora.py"
    code, work = train(
        config, "train_cfg.max_iters=4", "default_hooks.checkpoint.interval=4", "chat_prompts=[]"
    )
    assert code == 0
    adapter = tmp_path / "adapter"
    assert convert([str(work / "iter_4.pth"), "--config", str(config), "--out", str(adapter)]) == 0
    converted = load_file(adapter / "adapter_model.safetensors")
    exported = load_file(work / "hf" / "adapter_model.safetensors")
    # both hold only what trained: neither carries the frozen 16-bit head that lm_head's LoRA wraps
    assert set(exported) == set(converted)
    assert not any("base_layer" in key for key in exported)
    for key, tensor in converted.items():
        torch.testing.assert_close(tensor, exported[key], rtol=0, atol=0)

    merged = tmp_path / "merged"
    assert (
        merge(
            [
                "--base",
                "embedded:tiny-qwen2",
                "--adapter",
                str(adapter),
                "--out",
                str(merged),
                "--dtype",
                "fp32",
            ]
        )
        == 0
    )
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    plain = _logits(base, tiny_tokenizer)
    expected = _logits(PeftModel.from_pretrained(base, str(adapter)), tiny_tokenizer)
    torch.testing.assert_close(
        _logits(AutoModelForCausalLM.from_pretrained(merged), tiny_tokenizer), expected
    )
    assert (expected - plain).abs().max() > 1e-3
