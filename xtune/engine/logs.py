"""Read what a run logged: mmengine's ``vis_data/scalars.json`` (one JSON object per logged iteration)."""

from __future__ import annotations

import json
from pathlib import Path


def scalar_files(work_dir: str | Path) -> list[Path]:
    """Every run's ``scalars.json`` under ``work_dir``, oldest run first (a resumed run adds one)."""
    return sorted(Path(work_dir).glob("*/vis_data/scalars.json"), key=lambda p: p.parent.parent.name)


def read_scalars(work_dir: str | Path, run: str = "all") -> list[dict]:
    """Logged rows of the latest run (``run='latest'``) or of all runs in order (``'all'``)."""
    files = scalar_files(work_dir)
    if run == "latest":
        files = files[-1:]
    rows: list[dict] = []
    for file in files:
        with open(file) as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def losses_by_iter(work_dir: str | Path, run: str = "all") -> dict[int, float]:
    """``{iteration: loss}``; for iterations logged twice (a resumed run), the later run wins."""
    return {row["iter"]: row["loss"] for row in read_scalars(work_dir, run) if "loss" in row}
