"""benchmarks/gpu_finetune.py --tiny: the GPU benchmark runs end to end on CPU with a tiny shape."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest


def _load(repo, name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", repo / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_gpu_finetune_tiny_json(repo, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    bench = _load(repo, "gpu_finetune")
    assert bench.main(["--tiny", "--json", "--peak-tflops", "1.0"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((tmp_path / "out" / "gpu_finetune.json").read_text()) == out  # written under $OUT
    assert out["benchmark"] == "gpu_finetune" and _positive(out["wall_s"])
    assert [c["method"] for c in out["cases"]] == ["lora", "qlora"]
    for case in out["cases"]:
        assert _positive(case["params"]) and _positive(case["speedup"])
        assert _positive(case["planner"]["total_bytes"])
        for side in ("xtune", "hf"):
            result = case[side]
            for key in ("tokens_per_s", "step_s", "tflops_per_s", "mfu", "first_loss"):
                assert _positive(result[key]), (case["method"], side, key, result[key])
            assert result["attn_implementation"] == "sdpa"
            assert result["peak_bytes"] is None  # CPU: no CUDA allocator to ask
        # the same random checkpoint, rows and LoRA start: both sides' first loss is the base model's
        assert case["first_loss_abs_diff"] < 1e-4


@pytest.mark.slow
def test_gpu_finetune_keeps_going_when_one_run_fails(repo, capsys, tmp_path, monkeypatch):
    """A GPU lease is short: one failed run is recorded and the others still report."""
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    bench = _load(repo, "gpu_finetune")

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(bench, "run_hf", broken)
    assert bench.main(["--tiny", "--json", "--methods", "lora"]) == 0
    (case,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["cases"]
    assert "out of memory" in case["hf"]["error"] and "speedup" not in case
    assert _positive(case["xtune"]["tokens_per_s"])
    partial = json.loads((tmp_path / "out" / "gpu_finetune_partial.json").read_text())
    assert [c["method"] for c in partial] == ["lora"]
