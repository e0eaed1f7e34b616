"""Preprocessing runs once per content fingerprint, and once (on rank 0) for all ranks of a distributed run."""

from __future__ import annotations

import json
import multiprocessing

import numpy as np
import pytest

import xtune.dataset.sft as sft_module
from xtune.dataset import SFTDataset
from xtune.errors import DataError
from xtune.testing import make_demo_samples
from xtune.testing.dist import free_port


@pytest.fixture
def counted(monkeypatch):
    """Count calls of the preprocessing step (a cache miss)."""
    calls = []
    original = sft_module.preprocess_source

    def wrapper(source, *args, **kwargs):
        calls.append(source.name)
        return original(source, *args, **kwargs)

    monkeypatch.setattr(sft_module, "preprocess_source", wrapper)
    return calls


def write_rows(path, n: int, seed: int = 0):
    path.write_text("".join(json.dumps(r) + "\n" for r in make_demo_samples(n, seed=seed)))
    return path


def test_second_run_hits_the_cache(tmp_path, tiny_tokenizer, counted):
    data = write_rows(tmp_path / "d.jsonl", 20)
    kwargs = dict(path=str(data), tokenizer=tiny_tokenizer, cache_dir=str(tmp_path / "cache"), max_length=64)
    first = SFTDataset(**kwargs)
    second = SFTDataset(**kwargs)
    assert len(counted) == 1
    assert np.array_equal(first.lengths, second.lengths)
    assert all(np.array_equal(first[i]["input_ids"], second[i]["input_ids"]) for i in range(len(first)))
    assert first.statistics() == second.statistics()
    # Different settings or template: a new fingerprint, so preprocessing runs again.
    SFTDataset(**{**kwargs, "max_length": 32})
    SFTDataset(**kwargs, chat_template="chatml")
    assert len(counted) == 3
    # Same bytes at another path: still a hit; one changed byte: a miss.
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(data.read_bytes())
    SFTDataset(**{**kwargs, "path": str(copy)})
    assert len(counted) == 3
    copy.write_text(data.read_text().replace("letters", "Letters", 1))
    SFTDataset(**{**kwargs, "path": str(copy)})
    assert len(counted) == 4
    # Only complete builds live in the cache directory (no staging leftovers).
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(entries) == 4 and not any(name.startswith(".") for name in entries)


def _rank(rank: int, port: int, tmp: str, tokenizer_dir: str, data: str, results) -> None:
    import os

    import torch.distributed as torch_dist

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    torch_dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    original = sft_module.preprocess_source

    def wrapper(*args, **kwargs):
        open(f"{tmp}/built_by_rank{rank}", "w").close()
        return original(*args, **kwargs)

    sft_module.preprocess_source = wrapper
    try:
        dataset = SFTDataset(path=data, tokenizer=tokenizer_dir, cache_dir=f"{tmp}/cache", max_length=64)
        results.put((rank, len(dataset), int(dataset.lengths.sum())))
    except DataError as exc:
        results.put((rank, "DataError", str(exc)))
    finally:
        torch_dist.destroy_process_group()


def run_two_ranks(tmp_path, tiny_model_dir, data) -> list:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    port = free_port()
    procs = [
        ctx.Process(target=_rank, args=(r, port, str(tmp_path), str(tiny_model_dir), str(data), results))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    return sorted(results.get(timeout=5) for _ in procs)


@pytest.mark.distributed
def test_rank0_preprocesses_and_shares_with_other_ranks(tmp_path, tiny_model_dir):
    data = write_rows(tmp_path / "d.jsonl", 30)
    (r0, n0, t0), (r1, n1, t1) = run_two_ranks(tmp_path, tiny_model_dir, data)
    assert (n0, t0) == (n1, t1) == (30, t0)
    assert (tmp_path / "built_by_rank0").exists() and not (tmp_path / "built_by_rank1").exists()


@pytest.mark.distributed
def test_rank0_data_error_reaches_every_rank(tmp_path, tiny_model_dir):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n{"instruction": \n')
    (_, kind0, msg0), (_, kind1, msg1) = run_two_ranks(tmp_path, tiny_model_dir, data)
    assert kind0 == kind1 == "DataError"
    assert "line 2" in msg0 and "line 2" in msg1 and msg1.startswith("rank 0 failed")
