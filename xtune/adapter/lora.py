"""LoRA / DoRA / rsLoRA adapters through peft."""

from __future__ import annotations

from typing import Any, Literal

from xtune.registry import ADAPTERS


@ADAPTERS.register_module()
class LoRA:
    """Low-rank adapters on the targeted linear layers; the base stays frozen.

    Args:
        r: rank of the update.
        alpha: scaling numerator (``alpha / r``, or ``alpha / sqrt(r)`` with ``use_rslora``).
        dropout: dropout on the adapter input.
        target_modules: ``'all-linear'`` (every linear except the output head) or a list of module names
            (suffixes such as ``'q_proj'``, as peft matches them).
        use_dora: weight-decomposed LoRA (DoRA, arXiv:2402.09353): also trains a magnitude per output
            feature; works on 4-bit and 8-bit bases (peft dequantizes the frozen weight for the norm).
        use_rslora: rank-stabilised scaling ``alpha / sqrt(r)`` (arXiv:2312.03732), for large ranks.
        modules_to_save: extra modules trained in full and saved with the adapter (e.g. ``['lm_head']``).
        bias: ``'none'``, ``'all'`` or ``'lora_only'``.

    On a quantized base this is QLoRA: the adapters train in the compute dtype (fp32 master copies under
    AMP) on top of the frozen 4/8-bit weights.
    """

    trains_base = False

    def __init__(
        self,
        r: int = 8,
        alpha: int | float = 16,
        dropout: float = 0.05,
        target_modules: str | list[str] = "all-linear",
        use_dora: bool = False,
        use_rslora: bool = False,
        modules_to_save: list[str] | None = None,
        bias: Literal["none", "all", "lora_only"] = "none",
    ) -> None:
        from xtune.errors import ConfigError

        if r <= 0:
            raise ConfigError(f"model.adapter.r must be a positive integer, got {r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.adapter.dropout must be in [0, 1), got {dropout}")
        if bias not in ("none", "all", "lora_only"):
            raise ConfigError(f"model.adapter.bias: expected 'none', 'all' or 'lora_only', got {bias!r}")
        if isinstance(target_modules, str) and target_modules != "all-linear":
            target_modules = [target_modules]
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.target_modules = target_modules if isinstance(target_modules, str) else list(target_modules)
        self.use_dora = use_dora
        self.use_rslora = use_rslora
        self.modules_to_save = list(modules_to_save) if modules_to_save else None
        self.bias = bias

    def peft_config(self) -> Any:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            use_dora=self.use_dora,
            use_rslora=self.use_rslora,
            modules_to_save=self.modules_to_save,
            bias=self.bias,
            task_type="CAUSAL_LM",
        )

    def apply(self, model: Any, quantized: bool = False) -> Any:
        from peft import get_peft_model

        if self.use_dora and quantized:
            _refuse_dora_on_int8_cpu(model)
        return get_peft_model(model, self.peft_config())

    def trainable_params(self, arch: dict) -> int:
        """Adapter parameters as peft builds them: ``r * (in + out)`` per targeted linear, DoRA's magnitude
        vector, trained biases and full copies of ``modules_to_save``."""
        from xtune.adapter.params import name_matches, param_numels
        from xtune.planner.arch import linear_shapes

        total = 0
        for name, (fan_in, fan_out), count in linear_shapes(arch):
            if self._targets(name):
                total += count * (self.r * (fan_in + fan_out) + (fan_out if self.use_dora else 0))
        if self.target_modules != "all-linear" and "lm_head" in self.target_modules:
            vocab, hidden = arch["vocab_size"], arch["hidden_size"]
            total += self.r * (hidden + vocab) + (vocab if self.use_dora else 0)
        numels = param_numels(arch)
        for name, numel in numels.items():
            module = name.rsplit(".", 1)[0]
            if self.modules_to_save and any(name_matches(name, m) for m in self.modules_to_save):
                total += numel
            elif name.endswith(".bias") and (
                self.bias == "all" or self.bias == "lora_only" and self._targets(module.rsplit(".", 1)[-1])
            ):
                total += numel
        return total

    def _targets(self, module_name: str) -> bool:
        return self.target_modules == "all-linear" or module_name in self.target_modules


def _refuse_dora_on_int8_cpu(model: Any) -> None:
    """DoRA on a bitsandbytes 8-bit base cannot train on CPU with peft 0.21 + bitsandbytes 0.50.

    peft's ``dequantize_module_weight`` (run by DoRA at every forward) re-wraps a CPU ``Int8Params`` with
    ``.to('cpu')``, which drops its row scales (``SCB``); the layer's next forward then fails inside
    bitsandbytes with ``'NoneType' object has no attribute 'unsqueeze'``. GPU inputs skip that branch.
    """
    import bitsandbytes as bnb
    import torch

    from xtune.errors import ConfigError

    if torch.cuda.is_available() or not any(isinstance(m, bnb.nn.Linear8bitLt) for m in model.modules()):
        return
    raise ConfigError(
        "model.adapter.use_dora: DoRA on an 8-bit (BnB8bit) base does not run on CPU with the installed "
        "peft/bitsandbytes (peft's CPU dequantization drops the int8 row scales, and the next forward "
        "fails). "
        "Use DoRA with quantizer=dict(type='BnB4bit'), plain LoRA on the 8-bit base, or a GPU."
    )
