"""benchmarks/loss_memory.py: peak memory of the naive and the chunked loss, each in a fresh process."""

from __future__ import annotations

import importlib.util
import json

import pytest


@pytest.mark.slow
def test_loss_memory_json(repo, capsys):
    spec = importlib.util.spec_from_file_location("bench_loss_memory", repo / "benchmarks" / "loss_memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--tokens", "1024", "--vocab", "32000", "--hidden", "16", "--chunk-sizes", "128", "--json"]
    assert bench.main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    naive, chunked = out["results"]
    assert out["fp32_logits_bytes"] == 1024 * 32000 * 4
    assert naive["loss_fn"] == "CrossEntropy" and chunked["chunk_size"] == 128
    assert abs(naive["loss"] - chunked["loss"]) < 1e-5
    assert naive["peak_over_fp32_logits"] > 1.0  # logits, their softmax and gradient all live at once
    assert chunked["peak_bytes"] < 0.25 * naive["peak_bytes"]
