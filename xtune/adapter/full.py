"""Full fine-tuning: every weight trains."""

from __future__ import annotations

from typing import Any

from xtune.registry import ADAPTERS


@ADAPTERS.register_module()
class Full:
    """Train every parameter of the model (no adapter). Needs ~16 bytes per parameter with AdamW."""

    trains_base = True

    def __init__(self) -> None:
        pass

    def apply(self, model: Any, quantized: bool = False) -> Any:
        if quantized:
            from xtune.errors import ConfigError

            raise ConfigError(
                "model.adapter: Full fine-tuning cannot train quantized base weights; use "
                "quantizer=dict(type='NoQuant') or a LoRA adapter (QLoRA)."
            )
        for param in model.parameters():
            param.requires_grad_(True)
        return model

    def trainable_params(self, arch: dict) -> int:
        from xtune.planner.arch import count_params

        return count_params(arch)
