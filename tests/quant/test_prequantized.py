"""Pre-quantized checkpoints (GPTQ, AWQ, ...) are refused before any weight loads, with the way forward."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from xtune.errors import ConfigError, ModelLoadError
from xtune.quant import (
    BnB4bit,
    BnB8bit,
    NoQuant,
    check_prequantized,
    detect_quantization,
    original_checkpoint,
)

GPTQ = {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True}
AWQ = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}


def quantized_dir(root, name: str, quant: dict | None):
    """A checkpoint directory with only a config.json (no weight files at all)."""
    path = root / name
    path.mkdir(parents=True)
    config = {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64}
    if quant is not None:
        config["quantization_config"] = quant
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(
    "name, original",
    [
        ("Qwen/Qwen1.5-72B-Chat-GPTQ-Int4", "Qwen/Qwen1.5-72B-Chat"),
        ("Qwen/Qwen1.5-14B-Chat-GPTQ-Int8", "Qwen/Qwen1.5-14B-Chat"),
        ("Qwen/Qwen1.5-7B-Chat-AWQ", "Qwen/Qwen1.5-7B-Chat"),
        ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", "Qwen/Qwen2.5-7B-Instruct"),
        ("neuralmagic/Meta-Llama-3-8B-Instruct-FP8", "neuralmagic/Meta-Llama-3-8B-Instruct"),
        ("/models/Qwen1.5-32B-Chat-AWQ/", "/models/Qwen1.5-32B-Chat"),
        ("Qwen/Qwen1.5-14B-Chat", None),
        ("/models/my-finetune", None),
    ],
)
def test_original_checkpoint_strips_the_quantization_suffix(name, original):
    assert original_checkpoint(name) == original


def test_detection_reads_config_json_not_the_name(tmp_path):
    plain_name_gptq_config = quantized_dir(tmp_path, "renamed-model", GPTQ)
    found = detect_quantization(str(plain_name_gptq_config))
    assert (found.method, found.bits, found.source) == ("gptq", 4, "config.json")
    # A directory whose name says GPTQ but whose config.json has no quantization is an ordinary checkpoint.
    assert detect_quantization(str(quantized_dir(tmp_path, "Model-GPTQ-Int4", None))) is None


@pytest.mark.parametrize("quant, method", [(GPTQ, "GPTQ"), (AWQ, "AWQ")])
def test_refusal_names_method_reason_and_original(tmp_path, quant, method):
    path = quantized_dir(tmp_path, f"Qwen1.5-72B-Chat-{method}-Int4", quant)
    with pytest.raises(ModelLoadError) as info:
        check_prequantized(str(path), NoQuant())
    message = str(info.value)
    assert f"pre-quantized checkpoint ({method}, 4-bit)" in message
    assert f"quant_method='{method.lower()}'" in message
    assert "rounded to 4-bit values" in message and "gradients cannot flow into them" in message
    assert "Qwen1.5-72B-Chat`" in message and "QLoRA" in message


def test_users_bnb_quantizer_on_a_gptq_checkpoint_is_refused_not_ignored(tmp_path):
    path = quantized_dir(tmp_path, "Qwen1.5-7B-Chat-GPTQ-Int4", GPTQ)
    with pytest.raises(ModelLoadError, match=r"model.quantizer \(BnB4bit\) cannot apply either"):
        check_prequantized(str(path), BnB4bit())


def test_uncached_hub_id_is_judged_by_its_name(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        check_prequantized("Qwen/Qwen1.5-72B-Chat-GPTQ-Int4", NoQuant())
    assert "its name says so" in str(info.value) and "`Qwen/Qwen1.5-72B-Chat`" in str(info.value)
    check_prequantized("Qwen/Qwen1.5-72B-Chat", NoQuant())  # no marker, no config: nothing to refuse


def test_bitsandbytes_checkpoint_needs_the_matching_quantizer(tmp_path):
    bnb4 = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    path = str(quantized_dir(tmp_path, "model-bnb-4bit", bnb4))
    check_prequantized(path, BnB4bit())  # QLoRA on a checkpoint saved by bitsandbytes is fine
    with pytest.raises(ConfigError, match=r"model.quantizer=dict\(type='BnB4bit'\)"):
        check_prequantized(path, NoQuant())
    with pytest.raises(ConfigError, match="model.quantizer=dict"):
        check_prequantized(path, BnB8bit())
    with pytest.raises(ConfigError, match="quant_type='nf4'"):
        check_prequantized(path, BnB4bit(quant_type="fp4"))


def test_train_cli_refuses_before_loading_weights(repo, train, tmp_path, capsys, monkeypatch):
    import transformers

    loads = []
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: loads.append(a))
    path = quantized_dir(tmp_path, "Qwen1.5-14B-Chat-AWQ", AWQ)
    assert not [f for f in os.listdir(path) if f != "config.json"]  # no weights to load at all
    code, _ = train(repo / "configs/qwen1_5_14b_qlora.py", f"model.path={path}")
    err = capsys.readouterr().err
    assert code == 2 and loads == []
    assert "pre-quantized checkpoint (AWQ, 4-bit)" in err and "Traceback" not in err
    assert "cannot apply either" in err  # the config's BnB4bit quantizer is named, not ignored
    assert "probably `Qwen1.5-14B-Chat`" in err and "model.path=/path/to/Qwen1.5-14B-Chat" in err


@pytest.mark.slow
def test_tools_train_script_exits_nonzero_for_a_gptq_dir(repo, tmp_path):
    path = quantized_dir(tmp_path, "Qwen1.5-72B-Chat-GPTQ-Int4", GPTQ)
    result = subprocess.run(
        [
            sys.executable,
            "tools/train.py",
            "configs/qwen1_5_72b_qlora.py",
            "--cfg-options",
            f"model.path={path}",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert result.returncode == 2
    assert "pre-quantized checkpoint (GPTQ, 4-bit)" in result.stderr
    assert "rounded to 4-bit values" in result.stderr
    assert "probably `Qwen1.5-72B-Chat`" in result.stderr


@pytest.mark.slow
def test_a_checkpoint_saved_by_bitsandbytes_trains_with_the_matching_quantizer(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from xtune.model import SupervisedFinetune

    saved = tmp_path / "tiny-bnb-4bit"
    config = BnB4bit().hf_quantization_config(torch.float32)
    AutoModelForCausalLM.from_pretrained(tiny_model_dir, quantization_config=config).save_pretrained(saved)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (saved / name).write_bytes((tiny_model_dir / name).read_bytes())
    with pytest.raises(ConfigError, match="double_quant=True"):
        SupervisedFinetune(path=str(saved), quantizer=dict(type="BnB4bit", double_quant=False))
    model = SupervisedFinetune(
        path=str(saved), quantizer=dict(type="BnB4bit"), adapter=dict(type="LoRA", r=4)
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    ids = torch.randint(3, 380, (2, 12))
    losses = []
    for _ in range(5):
        loss = model(input_ids=ids, labels=ids)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    assert losses[-1] < 0.95 * losses[0], losses
