"""Build the run's own quantizer, adapter and strategy components from config dicts, cheaply.

The planner prices the very objects ``train.py`` will build (``bits_per_base_param``,
``trainable_params``, ``memory_split``), so a new quantizer or adapter is planned correctly the day it
is registered. Components import their heavy libraries lazily, so building them here costs microseconds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from xtune.errors import ConfigError

# ``--method`` presets of the config-free form. r=64 on every linear layer is the QLoRA paper's
# setting (Dettmers et al. 2023, arXiv:2305.14314, §4 and App. B.2: "r=64, alpha=16").
METHODS: dict[str, dict[str, Any]] = {
    "qlora": dict(quantizer=dict(type="BnB4bit"), adapter=dict(type="LoRA", r=64, alpha=16, dropout=0.05)),
    "lora": dict(quantizer=dict(type="NoQuant"), adapter=dict(type="LoRA", r=64, alpha=16, dropout=0.05)),
    "full": dict(quantizer=dict(type="NoQuant"), adapter=dict(type="Full")),
}


# Where each registry's components live. Importing the package registers them; looking the class up in
# ``module_dict`` avoids ``Registry.build``, whose first call sets up mmengine's logger and so imports
# torch (seconds) just to log a debug line.
_LOCATIONS = {"quantizer": "xtune.quant", "adapter": "xtune.adapter", "strategy": "xtune.strategy"}


def _registered(registry: Any, name: str) -> Any:
    import importlib

    importlib.import_module(_LOCATIONS[registry.name])
    return registry.module_dict.get(name.split(".")[-1])


def _build(registry: Any, cfg: Any, key: str, default: dict) -> Any:
    """Instantiate ``cfg`` with the class registered under its ``type``; None when none is."""
    if cfg is None:
        cfg = default
    if not isinstance(cfg, dict):
        return cfg  # already a component
    cfg = copy.deepcopy(dict(cfg))
    if "type" not in cfg:
        raise ConfigError(f"{key}: a component dict needs a `type`, got {cfg}")
    kind = cfg.pop("type")
    if not isinstance(kind, str):
        return kind(**cfg)  # a class given directly, as mmengine configs allow
    cls = _registered(registry, kind)
    if cls is None:
        return None
    try:
        return cls(**cfg)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def build_quantizer(cfg: Any, key: str = "model.quantizer") -> Any:
    """The QUANTIZERS component ``cfg`` names (``NoQuant`` when None)."""
    from xtune.registry import QUANTIZERS

    built = _build(QUANTIZERS, cfg, key, dict(type="NoQuant"))
    if built is None:
        raise ConfigError(f"{key}.type: unknown quantizer `{cfg['type']}`")
    return built


def build_adapter(cfg: Any, key: str = "model.adapter") -> Any:
    """The ADAPTERS component ``cfg`` names (``LoRA`` when None, as ``SupervisedFinetune`` defaults)."""
    from xtune.registry import ADAPTERS

    built = _build(ADAPTERS, cfg, key, dict(type="LoRA"))
    if built is None:
        raise ConfigError(f"{key}.type: unknown adapter `{cfg['type']}`")
    return built


def build_strategy(cfg: Any, key: str = "strategy") -> Any:
    """The STRATEGIES component ``cfg`` names, or its dict when that type is not registered (yet)."""
    from xtune.registry import STRATEGIES

    cfg = cfg or dict(type="Single")
    built = _build(STRATEGIES, cfg, key, dict(type="Single"))
    return built if built is not None else dict(cfg)


def method_name(quantizer: Any, adapter: Any) -> str:
    """``qlora`` (4-bit base + adapter), ``lora8`` (8-bit base), ``lora``, ``full``, or the adapter's name."""
    if getattr(adapter, "trains_base", False):
        return "full"
    adapter_name = type(adapter).__name__.lower()
    if getattr(quantizer, "quantized", False):
        bits = quantizer.bits_per_base_param()
        prefix = "q" if bits < 6 else ""
        suffix = "" if bits < 6 else str(round(bits))
        return f"{prefix}{adapter_name}{suffix}"
    return adapter_name


def describe_method(quantizer: Any, adapter: Any, arch: dict) -> str:
    """One line: how the base is stored and what trains."""
    from xtune.planner.units import fmt_count

    parts = []
    if getattr(quantizer, "quantized", False):
        parts.append(f"{type(quantizer).__name__} base ({quantizer.bits_per_base_param():.3f} bits/weight)")
    else:
        parts.append("16-bit base" if not adapter.trains_base else "every weight trains")
    trainable = adapter.trainable_params(arch)
    if not adapter.trains_base:
        rank = getattr(adapter, "r", None)
        parts.append(
            f"{type(adapter).__name__}{f' r={rank}' if rank else ''}: {fmt_count(trainable)} trainable"
        )
    return ", ".join(parts)


@dataclass(frozen=True)
class OptimizerSpec:
    """Bytes of optimizer state per trainable parameter, and where that figure comes from."""

    name: str
    state_bytes_fp32: float  # per parameter when states are fp32 (DeepSpeed's master copy)
    state_copies: float  # states as copies of the parameter (torch keeps them in the param dtype)
    fixed_bytes: float | None = None  # quantized states: bytes per parameter regardless of dtype

    def state_bytes(self, param_bytes: float) -> float:
        if self.fixed_bytes is not None:
            return self.fixed_bytes
        return self.state_copies * param_bytes


def optimizer_spec(cfg: Any) -> OptimizerSpec:
    """The optimizer ``optim_wrapper.optimizer`` names.

    Adam/AdamW keep two moments per parameter (Kingma & Ba 2015); torch allocates them with
    ``torch.zeros_like(param)``, i.e. in the parameter's dtype. bitsandbytes' 8-bit optimizers store
    each moment as 8-bit blocks of 2048 with an fp32 absmax (Dettmers et al. 2022, arXiv:2110.02861):
    2 bytes per parameter for Adam. ``Paged*`` variants page states to CPU under pressure but live on
    the GPU otherwise. SGD keeps one momentum buffer when momentum > 0; Lion one moment.
    """
    cfg = dict(cfg or {})
    name = str(cfg.get("type", "AdamW")).rsplit(".", 1)[-1]
    lowered = name.lower()
    if "8bit" in lowered:
        moments = 1 if "lion" in lowered else 2
        return OptimizerSpec(name, 4.0 * moments, moments, fixed_bytes=float(moments))
    if "lion" in lowered or (lowered == "sgd" and cfg.get("momentum", 0)):
        return OptimizerSpec(name, 4.0, 1)
    if lowered == "sgd":
        return OptimizerSpec(name, 0.0, 0)
    return OptimizerSpec(name, 8.0, 2)  # Adam, AdamW, PagedAdamW(32bit) and anything unknown
