"""Compatibility rules between a strategy, the launcher and the model, checked before anything is built."""

from __future__ import annotations

import os
from typing import Any

from xtune.errors import ConfigError
from xtune.strategy.base import LaunchContext


def launch_context(cfg: Any, launcher: str, device: str, precision: str) -> LaunchContext:
    """Collect what the rules need from the config and the process environment (no model is loaded)."""
    from xtune.registry import ADAPTERS, QUANTIZERS

    model = cfg.get("model") or {}
    quantizer = _component(QUANTIZERS, model.get("quantizer"), "NoQuant")
    adapter = _component(ADAPTERS, model.get("adapter"), "LoRA")
    loader = cfg.get("train_dataloader") or {}
    optim = cfg.get("optim_wrapper") or {}
    clip = optim.get("clip_grad") or {}
    optimizer = (optim.get("optimizer") or {}).get("type")
    return LaunchContext(
        launcher=launcher,
        device=device,
        precision=precision,
        world_size=_world_size(launcher),
        gpus=_gpu_count(device),
        quantized=bool(getattr(quantizer, "quantized", False)),
        trains_base=bool(getattr(adapter, "trains_base", False)),
        micro_batch_size=loader.get("batch_size"),
        accumulative_counts=int(optim.get("accumulative_counts", 1)),
        max_grad_norm=clip.get("max_norm"),
        optimizer=optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", None),
    )


def launcher_problems(ctx: LaunchContext) -> list[str]:
    """Rules about the launcher itself, whatever the strategy."""
    problems = []
    if ctx.launcher == "pytorch" and not {"RANK", "WORLD_SIZE", "LOCAL_RANK"} <= set(os.environ):
        problems.append(
            "--launcher pytorch: RANK/WORLD_SIZE/LOCAL_RANK are not set; start the run with "
            "`torchrun --nproc_per_node N tools/train.py CFG --launcher pytorch` or tools/dist_train.sh CFG N."
        )
    if ctx.launcher == "slurm" and not {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST"} <= set(os.environ):
        problems.append("--launcher slurm: SLURM_PROCID/SLURM_NTASKS are not set; start the run with `srun`.")
    if ctx.launcher == "none" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        problems.append(
            f"--launcher: this process was started by torchrun (WORLD_SIZE={os.environ['WORLD_SIZE']}) but "
            "--launcher is none, so every process would train alone; add --launcher pytorch."
        )
    return problems


def check_compatibility(strategy: Any, ctx: LaunchContext) -> None:
    """Raise one :class:`ConfigError` listing every rule ``strategy`` breaks in ``ctx``."""
    problems = launcher_problems(ctx) + list(strategy.check(ctx))
    if problems:
        name = type(strategy).__name__
        raise ConfigError(
            f"strategy `{name}` cannot run like this ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _component(registry: Any, cfg: Any, default: str) -> Any:
    if cfg is None:
        return registry.get(default)
    if isinstance(cfg, dict):
        kind = cfg.get("type", default)
        return registry.get(kind) if isinstance(kind, str) else kind
    return cfg


def _world_size(launcher: str) -> int:
    if launcher == "pytorch":
        return int(os.environ.get("WORLD_SIZE", "1"))
    if launcher == "slurm":
        return int(os.environ.get("SLURM_NTASKS", "1"))
    return 1


def _gpu_count(device: str) -> int:
    if device != "cuda":
        return 0
    import torch

    return torch.cuda.device_count()
