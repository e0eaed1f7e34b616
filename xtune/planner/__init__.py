"""Memory planning before any weight loads: architecture, per-GPU memory, recommendations.

Light on purpose: no torch, no transformers model. ``xtune plan`` and the ``train.py`` preflight ask
the run's own components (quantizer bits, adapter size, strategy split) and answer in milliseconds.
"""

from xtune.planner.memory import Estimate, Workload, estimate
from xtune.planner.plan import (
    Plan,
    Recommendation,
    Scenario,
    make_plan,
    scenario_for_model,
    scenario_from_config,
)
from xtune.planner.split import MemorySplit, split_for
from xtune.planner.table import Architecture, resolve_arch
from xtune.planner.units import GpuSpec, parse_gpus

__all__ = [
    "Architecture",
    "Estimate",
    "GpuSpec",
    "MemorySplit",
    "Plan",
    "Recommendation",
    "Scenario",
    "Workload",
    "estimate",
    "make_plan",
    "parse_gpus",
    "resolve_arch",
    "scenario_for_model",
    "scenario_from_config",
    "split_for",
]
