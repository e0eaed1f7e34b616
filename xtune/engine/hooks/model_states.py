"""What each rank actually holds: parameter, gradient and optimizer-state bytes, measured, not estimated."""

from __future__ import annotations

import json
import os
from typing import Any

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from xtune.registry import HOOKS


@HOOKS.register_module()
class ModelStatesHook(Hook):
    """Measure this rank's model states at its first optimizer step; log them and write a JSON report.

    Writes ``WORK_DIR/model_states_rank{R}.json`` on every rank with ``rank``, ``world_size``,
    ``strategy``, ``param_bytes``, ``grad_bytes``, ``optimizer_bytes``, plus ``master_param_bytes`` (the
    fp32 copies DeepSpeed's ZeRO optimizer keeps of this rank's share of the trainable weights),
    ``total_bytes`` and ``bytes_by_device``. Measured right after the first optimizer step, the one moment
    when gradients still exist and the (lazily created) optimizer states already do:

    - parameters: the storage of every model parameter on this rank; under ZeRO-3 the rank's partition
      (``param.ds_tensor``) plus any parameter currently gathered whole; 4-bit weights count their packed
      bytes and quantization constants;
    - gradients: gradient tensors of the model's parameters and of the optimizer's parameters (ZeRO
      keeps the rank's gradient partition on its flat fp32 partition); communication buckets excluded;
    - optimizer: the optimizer's state tensors (Adam's two moments and step).
    """

    priority = "LOW"

    def __init__(self, filename: str = "model_states_rank{rank}.json") -> None:
        self.filename = filename
        self._handle: Any = None
        self._report: dict | None = None
        self._written = False

    def before_train(self, runner: Any) -> None:
        optimizer = torch_optimizer(runner.optim_wrapper.optimizer)

        def measure(opt: Any, args: Any, kwargs: Any) -> None:
            if self._report is None:
                self._report = model_states(runner.model, opt, runner.rank, runner.world_size)
            self._handle.remove()

        self._handle = optimizer.register_step_post_hook(measure)

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if self._report is None or self._written:
            return
        self._written = True
        path = os.path.join(runner.work_dir, self.filename.format(rank=runner.rank))
        with open(path, "w") as f:
            json.dump(self._report, f, indent=2)
        mib = {k: round(v / 2**20, 3) for k, v in self._report.items() if k.endswith("_bytes")}
        runner.logger.info(
            f"model states on rank {runner.rank}/{runner.world_size} ({self._report['strategy']}), MiB: {mib}"
        )


def torch_optimizer(optimizer: Any) -> Any:
    """The ``torch.optim.Optimizer`` inside DeepSpeed's ZeRO/bf16 wrappers (or ``optimizer`` itself)."""
    import torch

    while not isinstance(optimizer, torch.optim.Optimizer) and hasattr(optimizer, "optimizer"):
        optimizer = optimizer.optimizer
    return optimizer


def model_states(model: Any, optimizer: Any, rank: int, world_size: int) -> dict[str, Any]:
    """The report of :class:`ModelStatesHook` for ``model`` (a runner's model) and its torch optimizer."""
    module = model.module if is_model_wrapper(model) else model
    by_device: dict[str, int] = {}

    def count(tensor: Any) -> int:
        size = tensor.numel() * tensor.element_size()
        if size:
            by_device[str(tensor.device)] = by_device.get(str(tensor.device), 0) + size
        return size

    model_params = list(module.parameters())
    own = {id(p) for p in model_params}
    param_bytes = 0
    for param in model_params:
        shard = getattr(param, "ds_tensor", None)
        param_bytes += count(param.data) + (count(shard) if shard is not None else 0)
        param_bytes += sum(count(t) for t in _quant_state_tensors(getattr(param, "quant_state", None)))

    opt_params = [p for group in optimizer.param_groups for p in group["params"]]
    seen: set[int] = set()
    grad_bytes = 0
    for param in model_params + opt_params:
        if param.grad is not None and id(param.grad) not in seen:
            seen.add(id(param.grad))
            grad_bytes += count(param.grad)
    master_bytes = sum(count(p.data) for p in {id(p): p for p in opt_params if id(p) not in own}.values())
    optimizer_bytes = sum(
        count(value) for state in optimizer.state.values() for value in state.values() if _is_tensor(value)
    )
    return {
        "rank": rank,
        "world_size": world_size,
        "strategy": strategy_name(model),
        "param_bytes": param_bytes,
        "grad_bytes": grad_bytes,
        "optimizer_bytes": optimizer_bytes,
        "master_param_bytes": master_bytes,
        "total_bytes": param_bytes + grad_bytes + optimizer_bytes + master_bytes,
        "bytes_by_device": by_device,
    }


def strategy_name(model: Any) -> str:
    """How the model is being run, read from the live objects: ``'DeepSpeed(stage=3)'``, ``'DDP'``..."""
    from torch.nn.parallel import DistributedDataParallel

    engine = getattr(model, "model", None)
    stage = getattr(engine, "zero_optimization_stage", None)
    if callable(stage):
        name = f"DeepSpeed(stage={stage()}"
        if engine.zero_cpu_offload():
            name += ", offload_optimizer=True"
        if engine.zero_offload_param():
            name += ", offload_params=True"
        return name + ")"
    if isinstance(model, DistributedDataParallel):
        return "DDP"
    module = model.module if is_model_wrapper(model) else model
    if len({p.device for p in module.parameters()}) > 1:
        return "ModelParallel"
    return "Single"


def _quant_state_tensors(state: Any) -> list[Any]:
    """The tensors of a bitsandbytes ``QuantState`` (block scales, code book, nested scales)."""
    if state is None:
        return []
    tensors = [v for v in vars(state).values() if _is_tensor(v)]
    nested = getattr(state, "state2", None)
    return tensors + (_quant_state_tensors(nested) if nested is not None else [])


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)
