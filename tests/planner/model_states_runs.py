"""Run several ``xtune train`` runs in ONE torchrun job (for test_model_states_dist.py).

    python -m torch.distributed.run --nproc_per_node 2 tests/planner/model_states_runs.py RUNS.json

``RUNS.json`` is a list of ``xtune train`` argument lists; every run goes through ``xtune.cli.train.main``
as ``tools/train.py`` would. A run that fails ends the job (non-zero exit on every rank).
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> int:
    from xtune.cli.train import main as train

    with open(path) as f:
        runs = json.load(f)
    for argv in runs:
        code = train(argv)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
