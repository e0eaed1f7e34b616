"""DeepSpeed ZeRO stages 1-3 (+ CPU offload): which model states each process keeps, and the JSON for it.

This module only describes the strategy and builds the DeepSpeed JSON (no deepspeed import), so
validation and the planner stay fast; the FlexibleRunner strategy that drives the DeepSpeed engine is
:mod:`xtune.strategy.deepspeed_engine`.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any, Literal

from xtune.registry import STRATEGIES
from xtune.strategy.base import LaunchContext, RunSetup

#: ``--deepspeed`` shorthands of ``xtune train``.
PRESETS: dict[str, dict[str, Any]] = {
    "zero1": dict(stage=1),
    "zero2": dict(stage=2),
    "zero2_offload": dict(stage=2, offload_optimizer=True),
    "zero3": dict(stage=3),
    "zero3_offload": dict(stage=3, offload_optimizer=True, offload_params=True),
}

#: Optimizers DeepSpeed's CPU Adam can stand in for when optimizer states are offloaded.
OFFLOADABLE_OPTIMIZERS = ("Adam", "AdamW")


@STRATEGIES.register_module()
class DeepSpeed:
    """DeepSpeed ZeRO data parallelism, run by mmengine's ``FlexibleRunner``.

    Per process, with ``N`` processes: stage 1 keeps 1/N of the optimizer states, stage 2 also 1/N of
    the gradients, stage 3 also 1/N of the parameters (gathered layer by layer for compute). Offloading
    moves the optimizer states (and with stage 3 the parameters) to CPU memory.

    The DeepSpeed JSON is derived from the config: micro batch = ``train_dataloader.batch_size``,
    gradient accumulation = ``optim_wrapper.accumulative_counts``, clipping =
    ``optim_wrapper.clip_grad.max_norm``, bf16/fp16 from the run's precision. A user JSON (``config``)
    may set anything else; its ``"auto"`` values are filled the same way, and values that contradict the
    config are refused at validation.

    Args:
        stage: ZeRO stage 0-3 (``None``: the JSON's stage, else 2).
        offload_optimizer: keep optimizer states (and the fp32 master weights) in CPU memory; the
            optimizer step runs on CPU with DeepSpeed's CPU Adam.
        offload_params: keep stage-3 parameter shards in CPU memory between uses.
        config: path of a DeepSpeed JSON file to start from.
        param_persistence_threshold: stage 3 keeps parameters with fewer elements than this whole on
            every process (DeepSpeed's default 1e5; tiny test models need 0 to be sharded at all).
        exclude_frozen_parameters: leave frozen base weights out of checkpoints (``None``: when the
            model has frozen weights, i.e. LoRA/QLoRA; they are reloaded from ``model.path``).
        backend: ``torch.distributed`` backend; ``None`` picks ``nccl`` on GPUs and ``gloo`` on CPU.
    """

    def __init__(
        self,
        stage: Literal[0, 1, 2, 3] | None = None,
        offload_optimizer: bool = False,
        offload_params: bool = False,
        config: str | None = None,
        param_persistence_threshold: int | None = None,
        exclude_frozen_parameters: bool | None = None,
        backend: str | None = None,
    ) -> None:
        self.stage = stage
        self.offload_optimizer = offload_optimizer
        self.offload_params = offload_params
        self.config = config
        self.param_persistence_threshold = param_persistence_threshold
        self.exclude_frozen_parameters = exclude_frozen_parameters
        self.backend = backend

    # -- what the planner and the model builder ask ------------------------------------------------------
    @property
    def effective_stage(self) -> int:
        if self.stage is not None:
            return self.stage
        stage = self._user_json().get("zero_optimization", {}).get("stage", 2)
        return stage if isinstance(stage, int) else 2

    @property
    def shards_params(self) -> bool:
        return self.effective_stage == 3

    def memory_split(self, world_size: int) -> Any:
        """For the planner: ZeRO's partitioning for this stage and offload (flags or JSON), with the
        JSON's bucket sizes (an :class:`xtune.planner.MemorySplit`)."""
        from xtune.planner.split import DS_PREFETCH_BUCKET, DS_REDUCE_BUCKET, MemorySplit

        zero = self.partial_config("bf16")["zero_optimization"]

        def size(key: str, default: int) -> int:
            value = zero.get(key, default)
            return default if value == "auto" else int(value)

        return MemorySplit.zero(
            self.effective_stage,
            world_size,
            offload_optimizer=offloads_optimizer({"zero_optimization": zero}),
            offload_params=(zero.get("offload_param") or {}).get("device", "none") in ("cpu", "nvme"),
            reduce_bucket_size=size("reduce_bucket_size", DS_REDUCE_BUCKET),
            prefetch_bucket_size=size("stage3_prefetch_bucket_size", DS_PREFETCH_BUCKET),
        )

    # -- validation ---------------------------------------------------------------------------------------
    def check(self, ctx: LaunchContext) -> list[str]:
        problems: list[str] = []
        if ctx.launcher == "none":
            problems.append(
                "strategy: `DeepSpeed` runs under a launcher, also on one GPU: `torchrun --nproc_per_node N "
                "tools/train.py CFG --launcher pytorch` (or tools/dist_train.sh CFG N)."
            )
        if self.stage not in (None, 0, 1, 2, 3):
            problems.append(f"strategy.stage: ZeRO stage must be 0, 1, 2 or 3, got {self.stage!r}")
        if self.config is not None:
            try:
                self._user_json()
            except (OSError, ValueError) as exc:
                return problems + [f"strategy.config: cannot read DeepSpeed JSON {self.config}: {exc}"]
        user_zero = self._user_json().get("zero_optimization", {})
        json_stage = user_zero.get("stage", "auto")
        if self.stage is not None and json_stage != "auto" and json_stage != self.stage:
            problems.append(
                f"strategy.stage={self.stage} contradicts zero_optimization.stage={json_stage} in "
                f"{self.config}; set one of them."
            )
        if self.offload_params and self.effective_stage != 3:
            problems.append(
                f"strategy.offload_params: parameter offload needs ZeRO stage 3 (got stage "
                f"{self.effective_stage}); use stage=3 or offload_optimizer=True alone."
            )
        if self.offload_optimizer and self.effective_stage == 0:
            problems.append("strategy.offload_optimizer: optimizer offload needs ZeRO stage 1, 2 or 3.")
        if self.backend == "nccl" and ctx.device == "cpu":
            problems.append("strategy.backend: `nccl` needs GPUs; use 'gloo' (or None) on CPU.")
        if (
            offloads_optimizer(self.partial_config(ctx.precision))
            and ctx.optimizer not in OFFLOADABLE_OPTIMIZERS
        ):
            problems.append(
                f"optim_wrapper.optimizer.type: offloaded optimizer states are updated by DeepSpeed's CPU Adam, "
                f"which replaces Adam/AdamW only (got {ctx.optimizer!r})."
            )
        problems += self._check_json_against_config(ctx)
        return problems

    def _check_json_against_config(self, ctx: LaunchContext) -> list[str]:
        user = self._user_json()
        source = self.config or "the DeepSpeed JSON"
        problems = []
        pairs = [
            ("train_micro_batch_size_per_gpu", ctx.micro_batch_size, "train_dataloader.batch_size"),
            ("gradient_accumulation_steps", ctx.accumulative_counts, "optim_wrapper.accumulative_counts"),
        ]
        for key, value, config_key in pairs:
            given = user.get(key, "auto")
            if given != "auto" and value is not None and given != value:
                problems.append(
                    f"strategy.config: {key}={given} in {source} contradicts {config_key}={value}; "
                    f'set it to "auto" (xtune fills it from {config_key}) or change {config_key}.'
                )
        for name in ("bf16", "fp16"):
            enabled = user.get(name, {}).get("enabled", "auto")
            if enabled != "auto" and bool(enabled) != (ctx.precision == name):
                problems.append(
                    f"strategy.config: {name}.enabled={enabled} in {source} contradicts this run's precision "
                    f"{ctx.precision!r} (key `precision`); remove it from the JSON (xtune derives it) or set "
                    "precision accordingly."
                )
        return problems

    # -- runner settings -------------------------------------------------------------------------------
    def setup(self, launcher: str, precision: str, device: str) -> RunSetup:
        import xtune.strategy.deepspeed_engine  # noqa: F401  (registers the runner strategy; imports deepspeed)

        backend = self.backend or ("nccl" if device == "cuda" else "gloo")
        runner_strategy = dict(
            _delete_=True,
            type="xtune.DeepSpeedEngineStrategy",
            config=self.partial_config(precision),
            exclude_frozen_parameters=self.exclude_frozen_parameters,
        )
        return RunSetup(
            "FlexibleRunner",
            {
                "launcher": launcher,
                "strategy": runner_strategy,
                "optim_wrapper": {"type": "DeepSpeedOptimWrapper"},
                "env_cfg": {"dist_cfg": {"backend": backend}},
            },
        )

    def partial_config(self, precision: str) -> dict[str, Any]:
        """The DeepSpeed JSON minus what only the built runner knows (micro batch, accumulation, clipping).

        Those are filled by :func:`complete_config` when the engine is created.
        """
        config = copy.deepcopy(self._user_json())
        zero = config.setdefault("zero_optimization", {})
        _fill(zero, "stage", self.effective_stage)
        if self.offload_optimizer:
            _fill(zero, "offload_optimizer", {"device": "cpu", "pin_memory": True})
        if self.offload_params:
            _fill(zero, "offload_param", {"device": "cpu", "pin_memory": True})
        if self.param_persistence_threshold is not None:
            _fill(zero, "stage3_param_persistence_threshold", self.param_persistence_threshold)
        for name in ("bf16", "fp16"):
            section = config.setdefault(name, {})
            _fill(section, "enabled", precision == name)
        if precision == "fp16":
            _fill(config["fp16"], "loss_scale", 0)  # dynamic loss scaling
        # mmengine builds the (torch) optimizer; DeepSpeed's list of "tested" ZeRO optimizers is advisory.
        _fill(config, "zero_allow_untested_optimizer", True)
        _fill(config, "steps_per_print", 2**62)  # mmengine's logger reports progress
        return config

    def _user_json(self) -> dict[str, Any]:
        if self.config is None:
            return {}
        with open(os.path.expanduser(self.config)) as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError("the top level must be a JSON object")
        return data


def complete_config(
    config: dict[str, Any], micro_batch_size: int, accumulative_counts: int, max_grad_norm: float | None
) -> dict[str, Any]:
    """Fill the runner-side values (where absent or ``"auto"``) of a :meth:`DeepSpeed.partial_config`."""
    config = copy.deepcopy(config)
    _fill(config, "train_micro_batch_size_per_gpu", micro_batch_size)
    _fill(config, "gradient_accumulation_steps", accumulative_counts)
    _fill(config, "gradient_clipping", float(max_grad_norm) if max_grad_norm else 0.0)
    if config.get("train_batch_size") == "auto":  # DeepSpeed derives it: micro batch x accumulation x ranks
        del config["train_batch_size"]
    return config


def offloads_optimizer(config: dict[str, Any]) -> bool:
    """True when the DeepSpeed JSON keeps optimizer states off the accelerator."""
    return _offloads(config.get("zero_optimization") or {}, "offload_optimizer")


def _offloads(zero: dict[str, Any], section: str) -> bool:
    return ((zero.get(section) or {}).get("device") or "none") in ("cpu", "nvme")


def _fill(section: dict[str, Any], key: str, value: Any) -> None:
    if section.get(key, "auto") == "auto":
        section[key] = value


def strategy_from_flag(flag: str, current: dict | None = None) -> dict[str, Any]:
    """The ``strategy`` config for ``--deepspeed FLAG``: a preset name or a DeepSpeed JSON path.

    Settings of a DeepSpeed strategy already in the config, or given without a type through
    ``--cfg-options strategy.KEY=VALUE``, are kept unless the flag sets them.
    """
    from xtune.errors import ConfigError

    keep = isinstance(current, dict) and current.get("type") in (None, "DeepSpeed")
    base = dict(current) if keep else {}
    base["type"] = "DeepSpeed"
    if flag in PRESETS:
        return {**base, **PRESETS[flag]}
    if flag.endswith(".json"):
        if not os.path.isfile(flag):
            raise ConfigError(f"--deepspeed: no such DeepSpeed JSON file: {flag}")
        return {**base, "config": flag}
    raise ConfigError(f"--deepspeed: expected one of {', '.join(PRESETS)} or a .json file, got {flag!r}")
