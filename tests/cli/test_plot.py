"""`xtune plot`: loss, lr and tokens/s curves of a (resumed) run to a PNG."""

from __future__ import annotations

import json
import math

from xtune.cli.plot import main as plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_run(work, name: str, iters: range, resumed_offset: float = 0.0) -> None:
    vis = work / name / "vis_data"
    vis.mkdir(parents=True)
    with open(vis / "scalars.json", "w") as f:
        for i in iters:
            row = dict(iter=i, step=i, loss=4.0 * math.exp(-i / 40) + resumed_offset, lr=2e-3 * min(1, i / 20),
                       tokens_per_sec=9000 + 500 * math.sin(i), grad_norm=1.0 / (1 + i / 50))  # fmt: skip
            f.write(json.dumps(row) + "\n")


def test_plot_writes_a_png_with_all_curves(tmp_path, capsys):
    work = tmp_path / "work"
    _write_run(work, "20260101_000000", range(1, 121))
    _write_run(work, "20260101_010000", range(100, 201))  # resumed at 100: later rows win
    out = tmp_path / "plots" / "curves.png"
    assert plot([str(work), "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 20_000 < len(data) < 2_000_000
    import matplotlib.image

    height, width = matplotlib.image.imread(out).shape[:2]
    assert (width, height) == (800, 960)  # 4 panels (loss, lr, tokens/s, grad norm) of 8 x 2.4 in at 100 dpi
    assert "loss, lr, tokens_per_sec, grad_norm" in capsys.readouterr().out


def test_plot_defaults_to_work_dir_and_reports_missing_logs(tmp_path, capsys):
    _write_run(tmp_path / "run", "20260101_000000", range(1, 11))
    assert plot([str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == PNG_MAGIC
    assert plot([str(tmp_path / "empty")]) == 2
    assert "no training scalars" in capsys.readouterr().err
