"""``train.py``'s preflight: plan the run on its GPUs and stop before any weight loads when it cannot fit."""

from __future__ import annotations

import os
import sys
from typing import Any

from xtune.errors import ConfigError
from xtune.planner.plan import Plan, make_plan, scenario_from_config
from xtune.planner.table import UnknownArchitecture
from xtune.planner.units import GpuSpec, fmt_bytes, gpus_from_config


def run_gpus(cfg: Any, launcher: str = "none") -> GpuSpec | None:
    """The GPUs this run will use: the visible CUDA devices (all ranks of a launched job), else the
    config's declared ``gpus``; None on a CPU-only run that declares none."""
    import torch  # train.py has imported it already

    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        memory = torch.cuda.get_device_properties(local_rank % torch.cuda.device_count()).total_memory
        count = int(os.environ.get("WORLD_SIZE", 1)) if launcher != "none" else torch.cuda.device_count()
        return GpuSpec(count, memory)
    declared = cfg.get("gpus")
    return gpus_from_config(declared) if declared is not None else None


def preflight(cfg: Any, launcher: str = "none", gpus: GpuSpec | None = None) -> Plan | None:
    """Plan ``cfg`` on ``gpus`` (default: :func:`run_gpus`); raise :class:`ConfigError` with the plan and
    the best alternative when it does not fit. Returns the plan, or None when there is nothing to check
    (no GPU and none declared, or an architecture the planner cannot see without downloading)."""
    gpus = gpus or run_gpus(cfg, launcher)
    if gpus is None:
        return None
    try:
        plan = make_plan(scenario_from_config(cfg, gpus))
    except UnknownArchitecture as exc:
        _say(f"xtune: memory preflight skipped: {exc}")
        return None
    if plan.fits:
        est = plan.estimate
        _say(
            f"xtune: memory plan: {fmt_bytes(est.total)} of {fmt_bytes(gpus.bytes_each)} per GPU "
            f"({plan.scenario.method}, {plan.strategy} on {est.split.world_size} GPU(s)); `xtune plan` explains it"
        )
        return plan
    from xtune.planner.report import render_recommendations, render_table, verdict

    raise ConfigError(
        "this run does not fit its GPUs, so it stops before loading any weights.\n\n"
        f"{render_table(plan)}\n\n{verdict(plan)}\n\n{render_recommendations(plan)}\n\n"
        "Change the config as above (or declare other `gpus`), or pass --skip-preflight to try anyway."
    )


def _say(message: str) -> None:
    if int(os.environ.get("RANK", 0)) == 0:
        print(message, file=sys.stderr)
