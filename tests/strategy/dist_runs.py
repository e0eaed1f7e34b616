"""Run several ``xtune train`` runs inside ONE torchrun job (one process group, one DeepSpeed comm setup).

    python -m torch.distributed.run --nproc_per_node 2 tests/strategy/dist_runs.py PLAN.json

``PLAN.json``: ``{"results": DIR, "runs": [{"name": ..., "argv": [...xtune train arguments...]}, ...]}``.
Each run calls ``xtune.cli.train.main`` exactly as ``tools/train.py`` would (``--launcher pytorch``
included). After every run, rank R rewrites ``DIR/results_rank{R}.json`` with ``{name: exit code}``, so
a crash later in the plan leaves the earlier results readable. An exception (not a user error, which
the CLI turns into exit code 2 on every rank alike) ends the job at once, so torchrun stops all ranks
instead of leaving one waiting in a collective.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback


def main(plan_path: str) -> int:
    from xtune.cli.train import main as train

    with open(plan_path) as f:
        plan = json.load(f)
    rank = int(os.environ["RANK"])
    out = os.path.join(plan["results"], f"results_rank{rank}.json")
    results: dict[str, dict] = {}
    for run in plan["runs"]:
        start = time.perf_counter()
        try:
            code = train(run["argv"])
        except BaseException:  # noqa: BLE001  (report, then end every rank through torchrun)
            traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)
        results[run["name"]] = {"code": code, "seconds": round(time.perf_counter() - start, 1)}
        with open(out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
