"""The mmengine ``FlexibleRunner`` strategy behind :class:`xtune.strategy.ModelParallel`."""

from __future__ import annotations

from typing import Any

from mmengine._strategy import SingleDeviceStrategy
from torch import nn

from xtune.registry import RUNNER_STRATEGIES
from xtune.strategy.model_parallel import plan_device_map

#: Share of each GPU's free memory the weights may take (the rest: activations, gradients, optimizer).
WEIGHTS_SHARE = 0.5


@RUNNER_STRATEGIES.register_module()
class ModelParallelRunnerStrategy(SingleDeviceStrategy):
    """One process; the model is loaded with a ``device_map`` and left where it was placed.

    mmengine's single-device strategy would move the whole model to ``cuda:0``; this one plans the
    split (:func:`plan_device_map`), passes it to ``from_pretrained`` through ``model.device_map``, and
    only moves the data preprocessor to the first GPU (accelerate's hooks move activations onwards).
    """

    def __init__(
        self, *, devices: list[int] | None = None, max_memory: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.devices = devices
        self.max_memory = max_memory

    def build_model(self, model: nn.Module | dict) -> nn.Module:
        if isinstance(model, dict) and model.get("device_map") is None:
            from xtune.hub import resolve_model_path

            model = dict(model)
            model["device_map"] = plan_device_map(
                str(resolve_model_path(model["path"])),
                self._memory_budget(),
                trust_remote_code=bool(model.get("trust_remote_code", False)),
            )
            self.logger.info(f"ModelParallel device map: {model['device_map']}")
        return super().build_model(model)

    def _memory_budget(self) -> dict[int, int | str]:
        import torch

        devices = self.devices if self.devices is not None else list(range(torch.cuda.device_count()))
        if self.max_memory:
            return {int(k): v for k, v in self.max_memory.items() if int(k) in devices}
        return {i: int(torch.cuda.mem_get_info(i)[0] * WEIGHTS_SHARE) for i in devices}

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        model = self.convert_model(model)
        first = next(model.parameters()).device
        model.data_preprocessor.to(first)
        return model
