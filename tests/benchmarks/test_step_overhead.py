"""benchmarks/step_overhead.py: xtune's Runner step against a plain peft loop, same model and data."""

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


@pytest.mark.slow
def test_step_overhead_json(repo, tiny_model_dir, capsys):
    bench = _load(repo, "step_overhead")
    assert bench.main(["--blocks", "2", "--block", "2", "--warmup", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["benchmark"] == "step_overhead"
    for key in ("xtune_over_plain", "xtune_over_plain_wall"):
        assert math.isfinite(out[key]) and out[key] > 0
    assert len(out["cpu_ratios"]) == len(out["wall_ratios"]) == 2
    for side in ("xtune", "plain"):
        assert out["per_step"][side]["cpu_ms"] > 0 and out["per_step"][side]["wall_ms"] > 0
    # Same model, same first batch, same loss: LoRA's B starts at zero, so both see the base model.
    assert out["first_loss"]["xtune"] > 0
    assert out["first_loss"]["abs_diff"] < 1e-5
