"""``xtune plan`` / ``tools/plan.py``: the JSON contract for every shipped config, and the human report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xtune.cli.plan import main

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p for p in (REPO / "configs").rglob("*.py") if "_base_" not in p.parts)
PARTS = {"weights", "adapter", "gradients", "optimizer", "activations", "logits", "overhead", "total"}
REC_KEYS = {"method", "strategy", "gpus", "per_gpu_total_bytes", "fits", "why"}


def run_json(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    data = json.loads(out)
    assert code == (0 if data["fits"] else 1)
    return data


def check_contract(data):
    assert isinstance(data["fits"], bool)
    assert isinstance(data["strategy"], str) and data["strategy"]
    assert set(data["gpus"]) >= {"count", "bytes_each"}
    assert set(data["per_gpu_bytes"]) == PARTS
    assert all(isinstance(v, int) and v >= 0 for v in data["per_gpu_bytes"].values())
    assert data["per_gpu_bytes"]["total"] == sum(v for k, v in data["per_gpu_bytes"].items() if k != "total")
    assert data["fits"] == (data["per_gpu_bytes"]["total"] <= data["gpus"]["bytes_each"])
    assert isinstance(data["cpu_bytes"], int)
    assert isinstance(data["recommendations"], list)
    for rec in data["recommendations"]:
        assert set(rec) >= REC_KEYS
        assert rec["fits"] and rec["per_gpu_total_bytes"] <= data["gpus"]["bytes_each"] and rec["why"]


def test_shipped_configs_exist():
    assert SHIPPED, "no configs found"


@pytest.mark.parametrize("config", SHIPPED, ids=[str(p.relative_to(REPO / "configs")) for p in SHIPPED])
def test_json_contract_for_every_shipped_config(capsys, tiny_model_dir, config):
    data = run_json(capsys, str(config), "--gpus", "2x24GB")
    check_contract(data)
    assert data["gpus"] == {"count": 2, "bytes_each": 24 * 2**30}


def test_config_free_form(capsys):
    data = run_json(capsys, "--model", "Qwen/Qwen1.5-72B-Chat", "--method", "qlora", "--gpus", "8x24GB")
    check_contract(data)
    assert data["strategy"] == "ddp" and data["architecture"]["name"] == "Qwen1.5-72B"
    assert data["recommendations"] and data["recommendations"][0]["strategy"] == "zero3"


def test_human_report(capsys):
    code = main(
        ["--model", "Qwen/Qwen1.5-14B-Chat", "--method", "qlora", "--gpus", "2x24GB", "--strategy", "zero2"]
    )
    out = capsys.readouterr().out
    assert code == 0
    for line in (
        "weights",
        "adapter",
        "gradients",
        "optimizer",
        "activations",
        "logits",
        "overhead",
        "total",
    ):
        assert f"\n  {line}" in out
    assert "FITS:" in out and "Alternatives that fit" in out and "Assumptions:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give a CONFIG"),
        (["--model", "Qwen/Qwen1.5-7B"], "--gpus"),
        (["--model", "Qwen/Qwen1.5-7B", "--gpus", "2x"], "--gpus"),
        (["--model", "nobody/unknown-7b", "--gpus", "1x24GB"], "--model"),
    ],
)
def test_errors_are_one_clear_line(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
