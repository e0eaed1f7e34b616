"""Arrow views return exactly what datasets' own row access returns (chunks, concatenation, reordering)."""

from __future__ import annotations

import datasets
import numpy as np

from xtune.dataset.columns import ListColumns


def test_views_match_datasets_rows(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"input_ids": rng.integers(0, 100, rng.integers(1, 9)).tolist()} for _ in range(50)]
    datasets.Dataset.from_list(rows[:20]).save_to_disk(str(tmp_path / "a"))
    datasets.Dataset.from_list(rows[20:]).save_to_disk(str(tmp_path / "b"))
    parts = [datasets.load_from_disk(str(tmp_path / name)) for name in ("a", "b")]
    joined = datasets.concatenate_datasets(parts)  # two memory-mapped chunks
    reordered = joined.select(list(range(49, -1, -1)))  # an indices mapping
    sliced = joined.filter(lambda row: len(row["input_ids"]) > 3)
    for dataset in (joined, reordered, sliced):
        views = ListColumns(dataset, ("input_ids",))
        for i in range(len(dataset)):
            assert views.get("input_ids", i).tolist() == dataset[i]["input_ids"]
