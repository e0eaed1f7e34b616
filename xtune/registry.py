"""xtune's registries, children of mmengine's root registries.

Because each is a child of mmengine's root registry, a config can name mmengine's own components
(``CheckpointHook``, ``AdamW``, ``IterBasedTrainLoop``...) and xtune's alike. A user registers a
component of their own with a decorator and loads the module with ``custom_imports``::

    from xtune.registry import ADAPTERS

    @ADAPTERS.register_module()
    class MyAdapter: ...
"""

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import Registry

# Every registry lists `xtune.*` packages as import locations so that a name used in a config is found
# even when the module defining it has not been imported yet.
MODELS = Registry("model", parent=MMENGINE_MODELS, scope="xtune", locations=["xtune.model"])
QUANTIZERS = Registry("quantizer", scope="xtune", locations=["xtune.quant"])
ADAPTERS = Registry("adapter", scope="xtune", locations=["xtune.adapter"])
LOSSES = Registry("loss", scope="xtune", locations=["xtune.model"])
DATASETS = Registry("dataset", parent=MMENGINE_DATASETS, scope="xtune", locations=["xtune.dataset"])
DATA_FORMATS = Registry("data format", scope="xtune", locations=["xtune.dataset"])
CHAT_TEMPLATES = Registry("chat template", scope="xtune", locations=["xtune.dataset"])
FUNCTIONS = Registry("function", parent=MMENGINE_FUNCTIONS, scope="xtune", locations=["xtune.dataset"])
STRATEGIES = Registry("strategy", scope="xtune", locations=["xtune.strategy"])
# mmengine's own FlexibleRunner strategies (DeepSpeed, FSDP) that xtune registers in its own scope.
RUNNER_STRATEGIES = Registry(
    "runner strategy", parent=MMENGINE_STRATEGIES, scope="xtune", locations=["xtune.strategy"]
)
HOOKS = Registry("hook", parent=MMENGINE_HOOKS, scope="xtune", locations=["xtune.engine.hooks"])
LOOPS = Registry("loop", parent=MMENGINE_LOOPS, scope="xtune", locations=["xtune.engine"])
OPTIMIZERS = Registry("optimizer", parent=MMENGINE_OPTIMIZERS, scope="xtune", locations=["xtune.engine"])
OPTIM_WRAPPERS = Registry(
    "optim wrapper", parent=MMENGINE_OPTIM_WRAPPERS, scope="xtune", locations=["xtune.engine"]
)
PARAM_SCHEDULERS = Registry(
    "parameter scheduler", parent=MMENGINE_PARAM_SCHEDULERS, scope="xtune", locations=["xtune.engine"]
)
MODEL_WRAPPERS = Registry(
    "model wrapper", parent=MMENGINE_MODEL_WRAPPERS, scope="xtune", locations=["xtune.strategy"]
)
DATA_SAMPLERS = Registry(
    "data sampler", parent=MMENGINE_DATA_SAMPLERS, scope="xtune", locations=["xtune.dataset"]
)

__all__ = [
    "ADAPTERS",
    "CHAT_TEMPLATES",
    "DATASETS",
    "DATA_FORMATS",
    "DATA_SAMPLERS",
    "FUNCTIONS",
    "HOOKS",
    "LOOPS",
    "LOSSES",
    "MODELS",
    "MODEL_WRAPPERS",
    "OPTIMIZERS",
    "OPTIM_WRAPPERS",
    "PARAM_SCHEDULERS",
    "QUANTIZERS",
    "RUNNER_STRATEGIES",
    "STRATEGIES",
]
