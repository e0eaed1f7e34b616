"""xtune's mmengine hooks."""

from xtune.engine.hooks.hf_export import HFExportHook
from xtune.engine.hooks.rng_state import RNGStateHook
from xtune.engine.hooks.throughput import ThroughputHook

__all__ = ["HFExportHook", "RNGStateHook", "ThroughputHook"]
