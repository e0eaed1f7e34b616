"""Strategy components: how a run is spread over devices, and which mmengine runner executes it.

The runner-side strategies (``deepspeed_engine``, ``model_parallel_runner``) import DeepSpeed/mmengine
internals and are loaded by the components' ``setup`` only when a run uses them.
"""

from xtune.strategy.base import LaunchContext, RunSetup, Strategy
from xtune.strategy.ddp import DDP
from xtune.strategy.deepspeed import DeepSpeed
from xtune.strategy.model_parallel import ModelParallel
from xtune.strategy.single import Single

__all__ = ["DDP", "DeepSpeed", "LaunchContext", "ModelParallel", "RunSetup", "Single", "Strategy"]
