"""Config validation: typos, wrong types and unknown components fail fast with the key and file:line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xtune.config import load_config, validate_config
from xtune.errors import ConfigError


def _write_config(tmp_path, repo, body: str):
    path = tmp_path / "user_cfg.py"
    path.write_text(f"_base_ = ['{repo}/configs/demo/tiny_qwen_lora.py']\n{body}")
    return path


def test_demo_config_is_valid(repo):
    validate_config(load_config(repo / "configs/demo/tiny_qwen_lora.py"))


def test_misspelled_adapter_key_names_key_suggestion_and_line(tmp_path, repo):
    path = _write_config(tmp_path, repo, "\nmodel = dict(\n    adapter=dict(rnak=8),\n)\n")
    with pytest.raises(ConfigError) as info:
        validate_config(load_config(path))
    message = str(info.value)
    assert "model.adapter.rnak" in message
    assert "did you mean `r`" in message
    assert f"{path}:4" in message


def test_cfg_option_typo_is_attributed_to_cfg_options(repo):
    cfg = load_config(repo / "configs/demo/tiny_qwen_lora.py", {"model.adapter.rnak": 8})
    with pytest.raises(ConfigError, match=r"rnak.*set by --cfg-options"):
        validate_config(cfg)


def test_wrong_type_is_reported_with_expected_type(repo):
    cfg = load_config(repo / "configs/demo/tiny_qwen_lora.py", {"model.adapter.r": "eight"})
    with pytest.raises(ConfigError, match=r"model\.adapter\.r: expected int, got str 'eight'"):
        validate_config(cfg)


def test_unknown_component_type_suggests_registered_name(repo):
    cfg = load_config(repo / "configs/demo/tiny_qwen_lora.py", {"model.adapter.type": "LoRa"})
    with pytest.raises(ConfigError, match=r"unknown adapter `LoRa`\. Did you mean `LoRA`"):
        validate_config(cfg)


def test_all_problems_reported_at_once(repo):
    cfg = load_config(
        repo / "configs/demo/tiny_qwen_lora.py",
        {"model.adapter.rnak": 8, "optim_wrapper.optimizer.lrr": 0.1},
    )
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    assert "2 problem(s)" in str(info.value)
    assert "optim_wrapper.optimizer.lrr" in str(info.value)


def test_near_miss_top_level_key(tmp_path, repo):
    path = _write_config(tmp_path, repo, "strategey = dict(type='Single')\n")
    with pytest.raises(ConfigError, match=r"strategey: unknown top-level key; did you mean `strategy`"):
        validate_config(load_config(path))


def test_missing_config_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.py")


def test_train_cli_typo_exits_2_before_loading_anything(repo):
    env = {**os.environ, "PYTHONPATH": str(repo)}
    result = subprocess.run(
        [
            sys.executable,
            "tools/train.py",
            "configs/demo/tiny_qwen_lora.py",
            "--cfg-options",
            "model.adapter.rnak=8",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "rnak" in result.stderr and "Traceback" not in result.stderr
    assert "Loading weights" not in result.stderr + result.stdout


def test_merging_a_dict_into_a_base_string_explains_delete(tmp_path, repo):
    path = _write_config(
        tmp_path, repo, "train_dataloader = dict(dataset=dict(format=dict(type='alpaca')))\n"
    )
    with pytest.raises(ConfigError, match="_delete_=True"):
        load_config(path)
