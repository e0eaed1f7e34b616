"""Plans: does a config (or a model + method) fit these GPUs, and what fits instead."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from xtune.errors import ConfigError
from xtune.planner.components import (
    METHODS,
    build_adapter,
    build_quantizer,
    build_strategy,
    method_name,
    optimizer_spec,
)
from xtune.planner.memory import ASSUMPTIONS, PARTS, Estimate, Workload, estimate
from xtune.planner.split import STRATEGY_CONFIGS, MemorySplit, split_for
from xtune.planner.table import Architecture, resolve_arch
from xtune.planner.units import GpuSpec, fmt_bytes, gpus_from_config

# ``ChunkedCrossEntropy``'s default ``chunk_size`` (xtune/model/loss.py), used when a config names the
# loss without setting it; read here rather than imported, since importing the loss imports torch.
DEFAULT_LOSS_CHUNK = 1024
CHUNKED_LOSSES = ("ChunkedCrossEntropy",)
# GPUs per node assumed when pricing CPU RAM for offload (DeepSpeed estimators' `num_gpus_per_node`).
GPUS_PER_NODE = 8


@dataclass
class Scenario:
    """Everything a plan depends on: the model, the run's components, the step and the hardware."""

    model: str
    arch: Architecture
    quantizer: Any
    adapter: Any
    strategy: Any  # a strategy component, or its config dict when its type is not registered yet
    workload: Workload
    gpus: GpuSpec
    cpu_ram: int | None = None  # CPU RAM per node for offloaded states; None: not checked

    def fits(self, est: Estimate) -> bool:
        """Whether ``est`` fits these GPUs (and the CPU RAM, when known)."""
        cpu_ok = self.cpu_ram is None or est.cpu_bytes <= self.cpu_ram
        return est.total <= self.gpus.bytes_each and cpu_ok

    @property
    def method(self) -> str:
        return method_name(self.quantizer, self.adapter)

    def world_size(self) -> int:
        """GPUs the strategy occupies: one for ``Single``, all of them otherwise."""
        probe = split_for(self.strategy, self.gpus.count)
        return 1 if probe.label == "single" else self.gpus.count

    def split(self) -> MemorySplit:
        return split_for(self.strategy, self.world_size())

    def estimate(self) -> Estimate:
        return estimate(
            self.arch.config,
            self.quantizer,
            self.adapter,
            self.split(),
            self.workload,
            gpus_per_node=min(self.gpus.count, GPUS_PER_NODE),
        )


@dataclass
class Recommendation:
    """An alternative that fits: method × strategy × GPU count (same GPU model), with one line of why."""

    method: str
    strategy: str
    gpus: int
    per_gpu_total_bytes: int
    fits: bool
    why: str
    cpu_bytes: int = 0
    changes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(
            method=self.method,
            strategy=self.strategy,
            gpus=self.gpus,
            per_gpu_total_bytes=self.per_gpu_total_bytes,
            fits=self.fits,
            why=self.why,
            cpu_bytes=self.cpu_bytes,
            changes=self.changes,
        )


@dataclass
class Plan:
    """A scenario's estimate, whether it fits, and the alternatives that do."""

    scenario: Scenario
    estimate: Estimate
    recommendations: list[Recommendation]

    @property
    def fits(self) -> bool:
        return self.scenario.fits(self.estimate)

    @property
    def strategy(self) -> str:
        return self.estimate.split.label

    def to_json(self) -> dict[str, Any]:
        scn, est = self.scenario, self.estimate
        return dict(
            fits=self.fits,
            model=scn.model,
            architecture=dict(name=scn.arch.name, source=scn.arch.source, params=est.params),
            method=scn.method,
            trainable_params=est.trainable,
            strategy=self.strategy,
            gpus=dict(count=scn.gpus.count, bytes_each=scn.gpus.bytes_each),
            gpus_used=est.split.world_size,
            workload=dict(
                seq_len=scn.workload.seq_len,
                micro_batch=scn.workload.micro_batch,
                gradient_checkpointing=scn.workload.gradient_checkpointing,
                precision=scn.workload.precision,
                loss_chunk=scn.workload.loss_chunk,
                optimizer=scn.workload.optimizer.name,
            ),
            per_gpu_bytes=dict(est.per_gpu),
            headroom_bytes=scn.gpus.bytes_each - est.total,
            cpu_bytes=est.cpu_bytes,
            cpu_ram=scn.cpu_ram,
            details=dict(est.details),
            assumptions=list(ASSUMPTIONS),
            recommendations=[r.to_json() for r in self.recommendations],
        )


# -- building scenarios ------------------------------------------------------------------------------
def _precision(value: str | None) -> str:
    """The precision a GPU run uses: ``auto`` → bf16 (fp16 on pre-Ampere cards, same byte counts)."""
    value = value or "auto"
    if value not in ("auto", "bf16", "fp16", "fp32"):
        raise ConfigError(f"precision: expected one of auto, fp32, bf16, fp16; got {value!r}")
    return "bf16" if value == "auto" else value


def _loss_chunk(loss: Any) -> int | None:
    if isinstance(loss, dict) and str(loss.get("type", "")).rsplit(".", 1)[-1] in CHUNKED_LOSSES:
        return int(loss.get("chunk_size", DEFAULT_LOSS_CHUNK))
    return None


def _seq_len(loader: Any) -> int:
    dataset = (loader or {}).get("dataset") or {}
    if isinstance(dataset, dict):
        for key in ("max_length", "pack_length", "seq_len"):
            if dataset.get(key):
                return int(dataset[key])
    return 2048  # SFTDataset's default max_length


def scenario_from_config(
    cfg: Any,
    gpus: GpuSpec | None = None,
    strategy: str | None = None,
    seq_len: int | None = None,
    batch_size: int | None = None,
    cpu_ram: int | None = None,
) -> Scenario:
    """The scenario a loaded config describes; ``gpus``/``strategy``/... override what it declares."""
    custom = cfg.get("custom_imports")
    if custom:  # components a config registers itself are priced like built-in ones
        import importlib

        modules = custom.get("imports", [])
        for name in [modules] if isinstance(modules, str) else modules:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise ConfigError(f"custom_imports: cannot import {name}: {exc}") from exc
    model = cfg.get("model") or {}
    path = model.get("path")
    if not path:
        raise ConfigError("model.path: no model given; set it to a local directory or a hub id")
    if gpus is None:
        declared = cfg.get("gpus")
        if declared is None:
            raise ConfigError(
                "gpus: the config declares no GPUs; pass --gpus COUNTxMEMORY (e.g. 2x24GB) or add "
                "gpus = dict(count=2, memory='24GB') to the config"
            )
        gpus = gpus_from_config(declared)
    quantizer = build_quantizer(model.get("quantizer"))
    adapter = build_adapter(model.get("adapter"))
    if adapter.trains_base and getattr(quantizer, "quantized", False):
        raise ConfigError(
            "model.adapter: full fine-tuning cannot train a quantized base; use NoQuant or LoRA"
        )
    gc = model.get("gradient_checkpointing")
    loader = cfg.get("train_dataloader") or {}
    workload = Workload(
        seq_len=int(seq_len or _seq_len(loader)),
        micro_batch=int(batch_size or loader.get("batch_size") or 1),
        gradient_checkpointing=bool(getattr(quantizer, "quantized", False) if gc is None else gc),
        precision=_precision(cfg.get("precision")),
        model_dtype=model.get("dtype", "auto"),
        loss_chunk=_loss_chunk(model.get("loss")),
        attn_implementation=model.get("attn_implementation"),
        optimizer=optimizer_spec((cfg.get("optim_wrapper") or {}).get("optimizer")),
    )
    strategy_cfg = STRATEGY_CONFIGS[_check_label(strategy)] if strategy else cfg.get("strategy")
    return Scenario(
        model=path,
        arch=resolve_arch(path),
        quantizer=quantizer,
        adapter=adapter,
        strategy=build_strategy(strategy_cfg),
        workload=workload,
        gpus=gpus,
        cpu_ram=cpu_ram,
    )


def scenario_for_model(
    model: str,
    method: str,
    gpus: GpuSpec,
    strategy: str | None = None,
    seq_len: int = 2048,
    batch_size: int = 1,
    gradient_checkpointing: bool = True,
    cpu_ram: int | None = None,
) -> Scenario:
    """The config-free scenario: a hub id or directory, ``qlora``/``lora``/``full`` and GPUs."""
    if method not in METHODS:
        raise ConfigError(f"--method: expected one of {', '.join(METHODS)}, got {method!r}")
    preset = METHODS[method]
    if strategy is None:
        strategy = "single" if gpus.count == 1 else "ddp"
    return Scenario(
        model=model,
        arch=resolve_arch(model, key="--model"),
        quantizer=build_quantizer(preset["quantizer"]),
        adapter=build_adapter(preset["adapter"]),
        strategy=build_strategy(STRATEGY_CONFIGS[_check_label(strategy)]),
        workload=Workload(
            seq_len=seq_len, micro_batch=batch_size, gradient_checkpointing=gradient_checkpointing
        ),
        gpus=gpus,
        cpu_ram=cpu_ram,
    )


def _check_label(label: str) -> str:
    if label not in STRATEGY_CONFIGS:
        raise ConfigError(f"--strategy: expected one of {', '.join(STRATEGY_CONFIGS)}, got {label!r}")
    return label


# -- recommendations ---------------------------------------------------------------------------------
# A plan within this share of the GPU is called tight: the estimate's own uncertainty (allocator
# behaviour, kernels' workspaces) is of that order, so a roomier alternative ranks first.
TIGHT_SHARE = 0.9


def is_tight(total: int, capacity: int) -> bool:
    """Fits, but with less than ``1 - TIGHT_SHARE`` of the GPU to spare."""
    return TIGHT_SHARE * capacity < total <= capacity


# Rough step-time factors for ranking only (not a prediction): ZeRO adds collectives, ZeRO-3 gathers
# weights every layer, offload runs the optimizer step on the CPU over PCIe, and layer-wise model
# parallel keeps one GPU busy at a time (ZeRO paper §10; ZeRO-Offload paper arXiv:2101.06840 §6).
_SLOWDOWN = {"single": 1.0, "ddp": 1.0, "zero1": 1.05, "zero2": 1.1, "zero3": 1.3, "model_parallel": 1.0,
             "zero2_offload": 2.5, "zero3_offload_opt": 3.0, "zero3_offload": 4.0}  # fmt: skip


def _throughput(label: str, count: int) -> float:
    """GPUs' worth of training speed (model parallel computes on one GPU at a time)."""
    return (1 if label == "model_parallel" else count) / _SLOWDOWN[label]


_CANDIDATE_STRATEGIES = (
    "single",
    "ddp",
    "zero2",
    "zero3",
    "model_parallel",
    "zero2_offload",
    "zero3_offload",
)
_FIDELITY = {
    "full": ["full", "lora", "qlora"],
    "lora": ["lora", "qlora", "full"],
    "qlora": ["qlora", "lora", "full"],
}


def _method_components(scn: Scenario, method: str) -> tuple[Any, Any]:
    """Quantizer and adapter for ``method``, keeping the scenario's own adapter settings where they apply."""
    if method == scn.method:
        return scn.quantizer, scn.adapter
    preset = METHODS[method]
    adapter = scn.adapter
    if method == "full" or adapter.trains_base or not hasattr(adapter, "r"):
        adapter = build_adapter(preset["adapter"])  # keep a LoRA's rank/targets when switching base storage
    return build_quantizer(preset["quantizer"]), adapter


def _gpu_counts(label: str, have: int) -> list[int]:
    if label == "single":
        return [1]
    if label == "ddp":
        return [have] if have > 1 else []
    counts = sorted({have, *(2**k for k in range(1, 9) if 2**k > have)})
    if label == "model_parallel":
        return [n for n in counts if 2 <= n <= GPUS_PER_NODE]
    if label in ("zero2", "zero3"):
        return [n for n in counts if n >= 2]
    return counts  # offload also helps a single GPU


def _why(method: str, est: Estimate, changes: list[str]) -> str:
    """One line: what the method and the strategy put on each GPU."""
    split = est.split
    n = split.world_size
    base = {"qlora": "4-bit base", "lora": "16-bit frozen base", "full": "every weight trains"}.get(
        method, method
    )
    weights = fmt_bytes(est.per_gpu["weights"])
    if split.label == "single":
        how = f"one GPU holds it all ({weights} of weights)"
    elif split.label == "ddp":
        how = (
            f"a full replica on each of {n} GPUs ({weights} of weights each): more throughput, not more room"
        )
    elif split.label in ("zero1", "zero2"):
        how = f"ZeRO shards gradients and optimizer states over {n} GPUs; the weights ({weights}) stay whole on each"
    elif split.label == "zero3":
        how = f"ZeRO-3 shards the weights too: {weights} per GPU over {n} GPUs"
    elif split.label == "model_parallel":
        how = f"layers split over {n} GPUs in one process; one GPU computes at a time (slow, no launcher)"
    else:
        where = "optimizer states" + (" and weights" if split.offload_params else "")
        how = f"{where} in CPU RAM ({fmt_bytes(est.cpu_bytes)} per node) on {n} GPU(s); slower steps"
    return f"{base}; {how}" + (f"; with {' and '.join(changes)}" if changes else "")


def _variants(workload: Workload) -> list[tuple[Workload, list[str]]]:
    """The workload as configured, then with the memory-saving switches it lacks (fewest changes first)."""
    variants = [(workload, [])]
    if not workload.gradient_checkpointing:
        variants.append((replace(workload, gradient_checkpointing=True), ["gradient checkpointing on"]))
    if workload.loss_chunk is None:
        variants += [
            (replace(w, loss_chunk=DEFAULT_LOSS_CHUNK), c + ["ChunkedCrossEntropy loss"]) for w, c in variants
        ]
    return sorted(variants, key=lambda item: len(item[1]))


def _first_fit(
    scn: Scenario, method: str, label: str, quantizer: Any, adapter: Any
) -> tuple[tuple, Recommendation] | None:
    """The fewest GPUs with which ``method`` under ``label`` fits, with its best variant there (roomy
    before tight, then fewest config changes) and the key that ranks it among the others."""
    for count in _gpu_counts(label, scn.gpus.count):
        found = []
        for workload, changes in _variants(scn.workload):
            split = split_for(STRATEGY_CONFIGS[label], count)
            est = estimate(scn.arch.config, quantizer, adapter, split, workload, min(count, GPUS_PER_NODE))
            if scn.fits(est):
                found.append((is_tight(est.total, scn.gpus.bytes_each), len(changes), est, changes))
        if not found:
            continue
        tight, n_changes, est, changes = min(found, key=lambda item: item[:2])
        why = _why(method, est, changes)
        if tight:
            why += f"; tight: {fmt_bytes(scn.gpus.bytes_each - est.total)} to spare"
        rec = Recommendation(method, label, count, est.total, True, why, est.cpu_bytes, changes)
        more = count > scn.gpus.count
        # On the GPUs you have: roomy before tight, fewer changes, then fastest. Beyond: fewest to buy.
        return (more, tight, n_changes, count if more else 0, -_throughput(label, count), est.total), rec
    return None


def recommend(scn: Scenario, on_hand: int = 5, beyond: int = 3) -> list[Recommendation]:
    """Alternatives that fit, best first: up to ``on_hand`` on the GPUs you have, then up to ``beyond``
    that need more of them. Within each: the requested method before others, roomy before tight, fewer
    config changes, then the faster setup (or, beyond your GPUs, the fewest GPUs)."""
    order = _FIDELITY.get(scn.method, [scn.method, "qlora", "lora", "full"])
    ranked = []
    for m_rank, method in enumerate(order):
        quantizer, adapter = _method_components(scn, method)
        for label in _CANDIDATE_STRATEGIES:
            found = _first_fit(scn, method, label, quantizer, adapter)
            if found is not None:
                key, rec = found
                ranked.append(((key[0], m_rank, *key[1:]), rec))
    ranked.sort(key=lambda item: item[0])
    mine = [rec for key, rec in ranked if not key[0]][:on_hand]
    more = [rec for key, rec in ranked if key[0]][:beyond]
    return mine + more


def make_plan(scn: Scenario, recommendations: bool = True) -> Plan:
    """Estimate ``scn`` and, unless asked not to, rank the alternatives that fit."""
    return Plan(scn, scn.estimate(), recommend(scn) if recommendations else [])


__all__ = [
    "PARTS",
    "Plan",
    "Recommendation",
    "Scenario",
    "make_plan",
    "recommend",
    "scenario_for_model",
    "scenario_from_config",
]
