"""Packing plans: every sample exactly once, rows within capacity, little padding on realistic lengths."""

from __future__ import annotations

import numpy as np
import pytest

from xtune.dataset import SFTDataset, sft_collate
from xtune.dataset.packing import (
    best_fit_decreasing,
    pack,
    packing_efficiency,
    padded_efficiency,
    subset_sum_rows,
)


def lognormal_lengths(n: int, mean: float = 300, cap: int = 2048, seed: int = 0) -> np.ndarray:
    """SFT-like lengths: log-normal with the given mean, clipped to [8, cap]."""
    sigma = 0.9
    rng = np.random.default_rng(seed)
    return rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n).astype(int).clip(8, cap)


def check_plan(rows: list[list[int]], lengths, capacity: int) -> None:
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= capacity for row in rows)


@pytest.mark.parametrize("planner", [best_fit_decreasing, subset_sum_rows, pack])
def test_plans_are_valid(planner):
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 100, 500)
    check_plan(planner(lengths, 100), lengths, 100)
    with pytest.raises(ValueError, match="more than the row capacity"):
        planner([5, 101], 100)


def test_realistic_distribution_wastes_under_two_percent():
    lengths = lognormal_lengths(5000)
    assert 280 < lengths.mean() < 320 and lengths.max() == 2048
    rows = pack(lengths, 2048)
    check_plan(rows, lengths, 2048)
    efficiency = packing_efficiency(lengths, rows, 2048)
    assert efficiency >= 0.995
    # The same data padded per batch of 8 wastes more than half.
    assert padded_efficiency(lengths, 8) < 0.5


def test_subset_sum_wins_where_lengths_take_few_values():
    rng = np.random.default_rng(2)
    lengths = rng.choice([30, 31, 32, 33, 34, 36, 38], size=2000)
    bfd = best_fit_decreasing(lengths, 512)
    planned = pack(lengths, 512)
    check_plan(planned, lengths, 512)
    assert len(planned) < len(bfd)
    assert packing_efficiency(lengths, planned, 512) >= 0.98 > packing_efficiency(lengths, bfd, 512)


def test_packed_demo_rows(repo, tmp_path, tiny_tokenizer):
    common = dict(path=str(repo / "data/demo/train.jsonl"), tokenizer=tiny_tokenizer, cache_dir=str(tmp_path))
    packed = SFTDataset(**common, max_length=512, pack_to_max_length=True)
    plain = SFTDataset(**common, max_length=512)
    stats = packed.statistics()
    assert stats["packed"] and stats["packing_efficiency"] >= 0.98
    assert stats["num_rows"] == len(packed) < len(plain) / 10
    seen = 0
    for index in range(len(packed)):
        row = packed[index]
        starts = np.flatnonzero(row["position_ids"] == 0)
        assert len(row["input_ids"]) <= 512 and starts[0] == 0
        # Each sample in the row is an unpacked sample, positions restarting at 0.
        bounds = [*starts.tolist(), len(row["input_ids"])]
        for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
            alone = plain[int(packed.rows[index][i])]
            assert np.array_equal(row["input_ids"][a:b], alone["input_ids"])
            assert np.array_equal(row["labels"][a:b], alone["labels"])
            assert np.array_equal(row["position_ids"][a:b], np.arange(b - a))
        seen += len(bounds) - 1
    assert seen == len(plain)
    batch = sft_collate([packed[0], packed[1]])
    assert set(batch) == {"input_ids", "labels", "position_ids"}
