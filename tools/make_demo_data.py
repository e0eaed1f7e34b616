"""Regenerate data/demo/{train,eval}.jsonl (deterministic)."""

import json
from pathlib import Path

from xtune.testing import make_demo_samples

OUT = Path(__file__).resolve().parent.parent / "data" / "demo"

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("train", 2000, 0), ("eval", 64, 1)):
        with open(OUT / f"{name}.jsonl", "w") as f:
            for row in make_demo_samples(n, seed=seed):
                f.write(json.dumps(row) + "\n")
        print(f"wrote {OUT / name}.jsonl ({n} rows)")
