"""The mmengine ``FlexibleRunner`` strategy that runs an xtune model inside a DeepSpeed engine.

mmengine 0.10.7 ships a ``DeepSpeedStrategy``, but its constructor imports
``deepspeed.runtime.fp16.onebit``, which DeepSpeed 0.19 removed, and it skips the checkpoint callbacks
that carry hooks' state (RNG streams, the message hub) into and out of checkpoints. This strategy
reuses mmengine's engine wrapper and optimizer wrapper and adds what xtune needs:

- the DeepSpeed JSON completed from the runner (micro batch, accumulation, clipping) — see
  :mod:`xtune.strategy.deepspeed`;
- DeepSpeed's CPU Adam in place of Adam/AdamW when optimizer states are offloaded;
- checkpoints in DeepSpeed's standard layout: ``WORK_DIR`` is the checkpoint directory and
  ``iter_N.pth/`` a tag directory of per-rank shards, so DeepSpeed's ``zero_to_fp32`` consolidates it:
  ``python WORK_DIR/zero_to_fp32.py WORK_DIR OUT --tag iter_N.pth`` (DeepSpeed copies the script there)
  or ``get_fp32_state_dict_from_zero_checkpoint(WORK_DIR, tag='iter_N.pth')``. No ``latest`` file:
  xtune's ``last_checkpoint`` names the newest tag, and tags are written under a temporary name first;
- ``before_save_checkpoint`` / ``after_load_checkpoint`` hooks called on every rank.
"""

from __future__ import annotations

import copy
import os.path as osp
import time
from collections.abc import Callable
from typing import Any

from mmengine._strategy import BaseStrategy
from torch import nn

from xtune.registry import RUNNER_STRATEGIES
from xtune.strategy.deepspeed import OFFLOADABLE_OPTIMIZERS, complete_config, offloads_optimizer

#: ``optim_wrapper`` keys that become DeepSpeed JSON values (DeepSpeed clips and accumulates itself).
_ENGINE_HANDLED_KEYS = ("clip_grad", "accumulative_counts", "dtype", "loss_scale")


@RUNNER_STRATEGIES.register_module()
class DeepSpeedEngineStrategy(BaseStrategy):
    """Build the model and optimizer with mmengine, then hand both to ``deepspeed.initialize``.

    Args:
        config: a DeepSpeed JSON (dict) whose runner-side values may still be ``"auto"``.
        exclude_frozen_parameters: keep frozen weights out of checkpoints; ``None`` decides per model
            (excluded when some weights are frozen and others train, as with LoRA).
        inputs_to_half: input keys cast to the engine's half dtype (mmengine's option; rarely needed).
    """

    def __init__(
        self,
        *,
        config: dict,
        exclude_frozen_parameters: bool | None = None,
        inputs_to_half: list[int | str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config = copy.deepcopy(config)
        self.exclude_frozen_parameters = exclude_frozen_parameters
        self._inputs_to_half = inputs_to_half

    def _setup_distributed(self, launcher: str | None = None, backend: str = "nccl", **kwargs: Any) -> None:
        # Reached only when nobody initialized the process group before (xtune's engine does, see
        # xtune.engine.compat.init_dist); mmengine's own path then starts DeepSpeed's comm backend.
        from mmengine.dist import init_dist

        init_dist(launcher, backend, init_backend="deepspeed", **kwargs)

    # -- build -----------------------------------------------------------------------------------------
    def prepare(
        self,
        model: nn.Module | dict,
        *,
        optim_wrapper: Any = None,
        param_scheduler: Any = None,
        compile: dict | bool = False,
        dispatch_kwargs: dict | None = None,
    ):
        if self._prepared:
            return self._prepared_components()
        self.dispatch_kwargs.update(dispatch_kwargs or {})

        engine_values: dict[str, Any] = {}
        if isinstance(optim_wrapper, dict):
            optim_wrapper, engine_values = self._split_optim_wrapper_cfg(optim_wrapper)
        clip = engine_values.get("clip_grad") or {}
        self.config = complete_config(
            self.config,
            micro_batch_size=self.dispatch_kwargs.get("train_micro_batch_size_per_gpu", 1),
            accumulative_counts=engine_values.get("accumulative_counts", 1),
            max_grad_norm=clip.get("max_norm"),
        )
        model = self.build_model(model)
        model = self._init_model_weights(model)
        if self.exclude_frozen_parameters is None:
            requires = {p.requires_grad for p in model.parameters()}
            self.exclude_frozen_parameters = requires == {True, False}
        if optim_wrapper is not None:
            self.optim_wrapper = self.build_optim_wrapper(optim_wrapper, model)
        self.model = self._wrap_model(model)
        if optim_wrapper is not None:
            self.optim_wrapper.model = self.model
        if param_scheduler is not None:
            self.param_schedulers = self.build_param_scheduler(param_scheduler, self.optim_wrapper)
        self._prepared = True
        return self._prepared_components()

    def build_model(self, model: nn.Module | dict) -> nn.Module:
        """Build the model; under ZeRO-3, inside DeepSpeed's ``zero.Init`` through transformers.

        With a live ``HfDeepSpeedConfig`` of stage 3, ``from_pretrained`` creates every weight already
        partitioned and loads only this rank's slices, so no rank ever holds the whole model (needed for
        models larger than one process's memory). transformers skips this for quantized models: a 4-bit
        base loads whole on every rank and ``deepspeed.initialize`` partitions it afterwards.
        """
        if not isinstance(model, dict) or self.config.get("zero_optimization", {}).get("stage") != 3:
            return super().build_model(model)
        from transformers.integrations.deepspeed import HfDeepSpeedConfig, unset_hf_deepspeed_config

        zero_init = HfDeepSpeedConfig(self.config)  # noqa: F841  (transformers keeps a weak reference)
        try:
            built = super().build_model(model)
        finally:
            unset_hf_deepspeed_config()
        params = list(built.parameters())
        sharded = sum(hasattr(p, "ds_id") for p in params)
        self.logger.info(
            f"ZeRO-3: {sharded} of {len(params)} weights were created partitioned (zero.Init); "
            "deepspeed.initialize partitions the rest"
        )
        return built

    def _split_optim_wrapper_cfg(self, cfg: dict) -> tuple[dict, dict]:
        """mmengine's optim wrapper config → (DeepSpeedOptimWrapper config, values for the JSON)."""
        from xtune.errors import ConfigError

        cfg = copy.deepcopy(dict(cfg))
        engine_values = {key: cfg.pop(key) for key in _ENGINE_HANDLED_KEYS if key in cfg}
        clip = engine_values.get("clip_grad")
        if clip and clip.get("type", "norm") != "norm":
            raise ConfigError(
                "optim_wrapper.clip_grad: DeepSpeed clips by global norm only; use clip_grad=dict(max_norm=...)."
            )
        cfg["type"] = "DeepSpeedOptimWrapper"
        if offloads_optimizer(self.config):
            cfg["optimizer"] = _cpu_adam_cfg(cfg["optimizer"])
        return cfg, engine_values

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        import deepspeed
        from mmengine._strategy.deepspeed import MMDeepSpeedEngineWrapper

        if hasattr(self, "optim_wrapper"):
            engine, self.optim_wrapper.optimizer, *_ = deepspeed.initialize(
                model=model, optimizer=self.optim_wrapper.optimizer, config=self.config
            )
        else:
            engine, *_ = deepspeed.initialize(model=model, config=self.config)
        return MMDeepSpeedEngineWrapper(model=engine, inputs_to_half=self._inputs_to_half)

    # -- checkpoints -----------------------------------------------------------------------------------
    def save_checkpoint(
        self,
        filename: str,
        *,
        save_optimizer: bool = True,
        save_param_scheduler: bool = True,
        extra_ckpt: dict | None = None,
        callback: Callable | None = None,
    ) -> None:
        """Save a DeepSpeed checkpoint: ``filename`` is the tag directory (every rank writes its shards)."""
        import mmengine

        extra_ckpt = dict(extra_ckpt or {})
        extra_ckpt.setdefault("meta", {}).update(
            seed=self.seed,
            time=time.strftime("%Y%m%d_%H%M%S", time.localtime()),
            mmengine=mmengine.__version__,
        )
        if save_param_scheduler and hasattr(self, "param_schedulers"):
            extra_ckpt["param_schedulers"] = self.scheduler_state_dict()
        if hasattr(self, "optim_wrapper"):
            # Not 'optimizer': DeepSpeed reserves that key in its model-states file.
            extra_ckpt["optim_wrapper"] = self.optim_state_dict()
        if callback is not None:
            callback(extra_ckpt)
        # Always with optimizer states: a ZeRO checkpoint without them holds no weights under stage 3.
        dirname, tag = osp.split(filename)
        self.model.save_checkpoint(
            dirname,
            tag=tag,
            client_state=extra_ckpt,
            save_latest=False,
            exclude_frozen_parameters=bool(self.exclude_frozen_parameters),
        )

    def resume(
        self,
        filename: str,
        *,
        resume_optimizer: bool = True,
        resume_param_scheduler: bool = True,
        map_location: str | Callable = "default",
        callback: Callable | None = None,
    ) -> dict:
        """Load model, optimizer and scheduler states from a checkpoint written by :meth:`save_checkpoint`."""
        self.logger.info(f"Resume checkpoint from {filename}")
        extra_ckpt = self._load(filename, load_optimizer_states=resume_optimizer)
        if callback is not None:
            callback(extra_ckpt)
        if resume_optimizer and "optim_wrapper" in extra_ckpt:
            self.load_optim_state_dict(extra_ckpt.pop("optim_wrapper"))
        if resume_param_scheduler and hasattr(self, "param_schedulers") and "param_schedulers" in extra_ckpt:
            self.load_scheduler_state_dict(extra_ckpt.pop("param_schedulers"))
        resumed_seed = extra_ckpt.get("meta", {}).get("seed")
        if resumed_seed is not None and resumed_seed != self._randomness.get("seed"):
            self.logger.warning(f"Resuming with the checkpoint's random seed {resumed_seed}")
            self._randomness.update(seed=resumed_seed)
            self._set_randomness(**self._randomness)
        return extra_ckpt

    def load_checkpoint(
        self,
        filename: str,
        *,
        map_location: str | Callable = "cpu",
        strict: bool = False,
        revise_keys: list = [(r"^module.", "")],  # noqa: B006  (mmengine's signature)
        callback: Callable | None = None,
    ) -> dict:
        """Load weights only (``load_from``) from a DeepSpeed checkpoint directory."""
        self.logger.info(f"Load checkpoint from {filename}")
        extra_ckpt = self._load(filename, load_optimizer_states=False)
        if callback is not None:
            callback(extra_ckpt)
        return extra_ckpt

    def _load(self, filename: str, load_optimizer_states: bool) -> dict:
        from xtune.errors import ConfigError

        dirname, tag = osp.split(osp.normpath(filename))
        if not osp.isdir(filename):
            raise ConfigError(
                f"resume/load_from: {filename} is not a DeepSpeed checkpoint directory (written by a "
                "DeepSpeed run as WORK_DIR/iter_N.pth/)."
            )
        _, extra_ckpt = self.model.load_checkpoint(
            dirname,
            tag=tag,
            load_optimizer_states=load_optimizer_states,
            load_module_strict=not self.exclude_frozen_parameters,
        )
        if extra_ckpt is None:
            raise ConfigError(f"resume/load_from: DeepSpeed found no checkpoint in {filename}")
        return extra_ckpt


def _cpu_adam_cfg(optimizer: dict) -> dict:
    """The same Adam/AdamW settings for DeepSpeed's CPU Adam (required with offloaded optimizer states)."""
    from deepspeed.ops.adam import DeepSpeedCPUAdam

    from xtune.errors import ConfigError

    optimizer = dict(optimizer)
    name = optimizer["type"] if isinstance(optimizer["type"], str) else optimizer["type"].__name__
    if name not in OFFLOADABLE_OPTIMIZERS:
        raise ConfigError(
            f"optim_wrapper.optimizer.type: offloaded optimizer states need Adam or AdamW, got {name}"
        )
    optimizer["type"] = DeepSpeedCPUAdam
    optimizer["adamw_mode"] = name == "AdamW"
    optimizer.pop("foreach", None)
    optimizer.pop("fused", None)
    return optimizer


def is_zero3(model: Any) -> bool:
    """True when ``model`` (a runner's model) is a DeepSpeed engine that partitions parameters."""
    engine = getattr(model, "model", None)
    partitions = getattr(engine, "zero_optimization_partition_weights", None)
    return bool(partitions and partitions())


__all__ = ["DeepSpeedEngineStrategy", "is_zero3"]
