"""Assemble an mmengine Runner from an xtune config: strategy, precision, tokenizer and data defaults."""

from __future__ import annotations

import os.path as osp
import time
import uuid
from typing import Any

from mmengine.config import Config

from xtune.errors import ConfigError
from xtune.registry import FUNCTIONS, STRATEGIES
from xtune.strategy.rules import check_compatibility, launch_context

XTUNE_ONLY_KEYS = ("tokenizer", "strategy", "precision", "gpus", "_cfg_options")


def detect_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(precision: str, device: str) -> str:
    """``'auto'`` → bf16 (or fp16 on cards without bf16) on GPU, fp32 on CPU."""
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ConfigError(f"precision: expected one of auto, fp32, bf16, fp16; got {precision!r}")
    if precision != "auto":
        if device == "cpu" and precision != "fp32":
            raise ConfigError(
                f"precision: {precision} mixed precision needs a GPU; use 'fp32' or 'auto' on CPU"
            )
        return precision
    if device == "cpu":
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def fit_schedulers_to_max_iters(cfg: Config) -> None:
    """Iteration-based schedulers follow ``train_cfg.max_iters``.

    A scheduler's ``end=None`` means "until the last iteration", and boundaries past ``max_iters`` are
    clamped (a scheduler starting after it is dropped), so ``--cfg-options train_cfg.max_iters=N``
    alone gives a consistent schedule instead of mmengine's ``end should be larger than begin``.
    """
    max_iters = (cfg.get("train_cfg") or {}).get("max_iters")
    schedulers = cfg.get("param_scheduler")
    if not max_iters or not schedulers:
        return
    fitted = []
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        if scheduler.get("by_epoch", True):
            fitted.append(scheduler)
            continue
        if scheduler.get("begin", 0) >= max_iters:
            continue
        if scheduler.get("end") is None or scheduler["end"] > max_iters:
            scheduler["end"] = max_iters
        fitted.append(scheduler)
    cfg.param_scheduler = fitted


def check_strategy(
    cfg: Config, launcher: str, device: str | None = None, precision: str | None = None
) -> Any:
    """Build the config's strategy and enforce the compatibility rules (strategy, launcher, model).

    Raises one :class:`ConfigError` listing every problem, before any weight is loaded.
    """
    device = device or detect_device()
    precision = precision or resolve_precision(cfg.get("precision", "auto"), device)
    strategy = build_strategy(cfg)
    check_compatibility(strategy, launch_context(cfg, launcher, device, precision))
    return strategy


def build_strategy(cfg: Config) -> Any:
    strategy_cfg = cfg.get("strategy") or dict(type="Single")
    return STRATEGIES.build(dict(strategy_cfg)) if isinstance(strategy_cfg, dict) else strategy_cfg


def resolve_work_dir(cfg: Config, work_dir: str | None = None) -> str:
    """``--work-dir``, else the config's ``work_dir``, else ``work_dirs/<config name>``."""
    if work_dir:
        return work_dir
    if cfg.get("work_dir"):
        return cfg.work_dir
    return osp.join("work_dirs", osp.splitext(osp.basename(cfg.filename or "xtune"))[0])


def prepare_config(cfg: Config, launcher: str = "none", work_dir: str | None = None) -> tuple[Config, str]:
    """Fill the defaults a Runner needs and apply the strategy; returns ``(cfg, runner_type)``."""
    cfg = cfg.copy()
    cfg.default_scope = "xtune"
    cfg.work_dir = resolve_work_dir(cfg, work_dir)
    if not cfg.get("experiment_name"):
        # mmengine names runs by the second; two runs in one process and second would share a MessageHub.
        name = osp.splitext(osp.basename(cfg.filename or "xtune"))[0]
        cfg.experiment_name = f"{name}_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
    if not cfg.get("model", {}).get("path"):
        raise ConfigError("model.path: no model given; set it to a local directory or a hub id")

    tokenizer = cfg.get("tokenizer") or cfg.model.path
    for loader_key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(loader_key)
        if not loader:
            continue
        dataset = loader.get("dataset")
        if isinstance(dataset, dict) and dataset.get("tokenizer") is None:
            dataset["tokenizer"] = tokenizer
        collate = loader.get("collate_fn")
        if isinstance(collate, dict) and isinstance(collate.get("type"), str):
            # mmengine looks collate functions up in its root registry, which only sees xtune's
            # through the scope prefix.
            if FUNCTIONS.get(collate["type"]) is None:
                raise ConfigError(f"{loader_key}.collate_fn.type: unknown function `{collate['type']}`")
            if "." not in collate["type"] and collate["type"] in FUNCTIONS.module_dict:
                collate["type"] = f"xtune.{collate['type']}"

    fit_schedulers_to_max_iters(cfg)
    device = detect_device()
    precision = resolve_precision(cfg.get("precision", "auto"), device)
    strategy = check_strategy(cfg, launcher, device, precision)
    if strategy.shards_params:
        # flattened, sharded parameters need 4-bit storage in the compute dtype (see load_causal_lm)
        cfg.model.setdefault("shards_params", True)
    setup = strategy.setup(launcher=launcher, precision=precision, device=device)
    optim_wrapper = cfg.get("optim_wrapper") or {}
    if "type" not in optim_wrapper:
        if precision == "fp32":
            optim_wrapper["type"] = "OptimWrapper"
        else:
            optim_wrapper["type"] = "AmpOptimWrapper"
            optim_wrapper["dtype"] = "bfloat16" if precision == "bf16" else "float16"
    cfg.optim_wrapper = optim_wrapper
    cfg.merge_from_dict(setup.overrides)
    return cfg, setup.runner_type


def wait_for_unused_log_dir(work_dir: str) -> None:
    """Wait (at most a second) until ``work_dir`` has no log dir named after the current second.

    mmengine names each run's log dir ``work_dir/<YYYYmmdd_HHMMSS>``: a run started in the same second as the
    previous one in that work dir (a quick resume, a dry run's second phase) would append to the first
    run's logs and ``scalars.json``.
    """
    while osp.isdir(osp.join(work_dir, time.strftime("%Y%m%d_%H%M%S"))):
        time.sleep(0.05)


def build_runner(cfg: Config, launcher: str = "none", work_dir: str | None = None) -> Any:
    """Return a ready mmengine ``Runner`` (or ``FlexibleRunner``) for ``cfg``."""
    from xtune.engine import compat

    compat.apply_all()
    cfg, runner_type = prepare_config(cfg, launcher=launcher, work_dir=work_dir)
    if launcher != "none":
        dist_cfg = (cfg.get("env_cfg") or {}).get("dist_cfg") or {}
        compat.init_dist(launcher, backend=dist_cfg.get("backend", "nccl"), timeout=dist_cfg.get("timeout"))
    wait_for_unused_log_dir(cfg.work_dir)
    if runner_type == "FlexibleRunner":
        from mmengine.runner import FlexibleRunner as RunnerClass
    else:
        from mmengine.runner import Runner as RunnerClass
    runner = RunnerClass.from_cfg(cfg)
    compat.apply_all(runner)
    return runner
