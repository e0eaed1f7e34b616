"""xtune's mmengine hooks."""

from xtune.engine.hooks.checkpoint import SafeCheckpointHook
from xtune.engine.hooks.dataset_info import DatasetInfoHook
from xtune.engine.hooks.evaluate_chat import EvaluateChatHook
from xtune.engine.hooks.hf_export import HFExportHook
from xtune.engine.hooks.model_states import ModelStatesHook
from xtune.engine.hooks.rng_state import RNGStateHook
from xtune.engine.hooks.throughput import ThroughputHook

__all__ = [
    "DatasetInfoHook",
    "EvaluateChatHook",
    "HFExportHook",
    "ModelStatesHook",
    "RNGStateHook",
    "SafeCheckpointHook",
    "ThroughputHook",
]
