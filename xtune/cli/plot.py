"""``xtune plot WORK_DIR [--out PNG]``: loss, learning rate and tokens/s of a run (resumed runs joined)."""

from __future__ import annotations

import argparse
import os

from xtune.cli.common import user_errors
from xtune.errors import XtuneError

#: (scalar key, panel title, y scale)
PANELS = [
    ("loss", "loss", "linear"),
    ("lr", "learning rate", "linear"),
    ("tokens_per_sec", "tokens/s", "linear"),
]
OPTIONAL = [("grad_norm", "gradient norm", "linear"), ("mfu", "MFU", "linear")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtune plot", description=__doc__)
    parser.add_argument("work_dir", help="a training work dir (holds <timestamp>/vis_data/scalars.json)")
    parser.add_argument("--out", help="PNG to write (default: WORK_DIR/curves.png)")
    return parser


def plot_curves(work_dir: str, out: str) -> list[str]:
    """Write the PNG; returns the scalar keys plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xtune.engine.logs import read_scalars

    by_iter: dict[int, dict] = {}
    for row in read_scalars(work_dir):  # oldest run first: a resumed run's rows replace the replayed ones
        if "iter" in row and "loss" in row:
            by_iter[row["iter"]] = row
    if not by_iter:
        raise XtuneError(
            f"{work_dir}: no training scalars found (expected */vis_data/scalars.json with `loss`)"
        )
    iters = sorted(by_iter)
    panels = PANELS + [p for p in OPTIONAL if any(p[0] in by_iter[i] for i in iters)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.4 * len(panels)), sharex=True, squeeze=False)
    for ax, (key, title, scale) in zip(axes[:, 0], panels):
        points = [(i, by_iter[i][key]) for i in iters if key in by_iter[i]]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, linewidth=1.2)
            if scale == "log" and min(ys) > 0:
                ax.set_yscale("log")
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("iteration")
    fig.suptitle(os.path.basename(os.path.abspath(work_dir)))
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return [p[0] for p in panels]


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = args.out or os.path.join(args.work_dir, "curves.png")
    keys = plot_curves(args.work_dir, out)
    print(f"xtune: plotted {', '.join(keys)} to {out}")
    return 0
