"""Partial fine-tuning: train only the parameters whose names match, freeze the rest."""

from __future__ import annotations

from typing import Any

from xtune.adapter.params import name_matches, param_numels
from xtune.errors import ConfigError
from xtune.registry import ADAPTERS


@ADAPTERS.register_module()
class Freeze:
    """Train only the named modules (e.g. the output head and the last layers); every other weight is frozen.

    Args:
        trainable: name patterns. A plain pattern matches whole dotted components of a parameter name
            (``'lm_head'``, ``'layers.23'``, ``'mlp'``, ``'norm'``); one with ``*``/``?``/``[`` is a glob
            over the full name (``'model.layers.2[0-3].*'``). Each pattern must match something.

    The selected weights are kept in fp32 (they are the optimizer's master weights; on GPU the forward runs
    under bf16/fp16 autocast). On a quantized base only unquantized weights can train (embeddings,
    ``lm_head``, norms, biases): selecting a 4/8-bit linear weight is an error.
    """

    trains_base = False

    def __init__(self, trainable: list[str]) -> None:
        if isinstance(trainable, str):
            trainable = [trainable]
        if not trainable or not all(isinstance(p, str) and p.strip(". ") for p in trainable):
            raise ConfigError(
                "model.adapter.trainable: give a non-empty list of name patterns, "
                "e.g. ['lm_head', 'layers.23']"
            )
        self.trainable = list(trainable)

    def apply(self, model: Any, quantized: bool = False) -> Any:
        import torch

        named = dict(model.named_parameters())
        selected = self._select(list(named))
        quantized_params = _quantized_param_types() if quantized else ()
        refused = [n for n in selected if quantized_params and isinstance(named[n], quantized_params)]
        if refused:
            raise ConfigError(
                "model.adapter.trainable selects quantized weights, which cannot train: "
                f"{', '.join(refused[:4])}{' ...' if len(refused) > 4 else ''}. "
                "Select unquantized modules (lm_head, embed_tokens, norms) "
                "or use LoRA on a quantized base (QLoRA), or quantizer=dict(type='NoQuant')."
            )
        for name, param in named.items():
            train = name in selected
            if train and param.dtype in (torch.float16, torch.bfloat16):
                param.data = param.data.float()
            param.requires_grad_(train)
        return model

    def trainable_params(self, arch: dict) -> int:
        numels = param_numels(arch)
        return sum(numels[name] for name in self._select(list(numels)))

    def _select(self, names: list[str]) -> set[str]:
        selected: set[str] = set()
        for pattern in self.trainable:
            hits = {n for n in names if name_matches(n, pattern)}
            if not hits:
                example = next((n for n in names if ".layers.0." in n), names[0] if names else "")
                raise ConfigError(
                    f"model.adapter.trainable: `{pattern}` matches no parameter of the model "
                    f"(names look like `{example}`)."
                )
            selected |= hits
        return selected


def _quantized_param_types() -> tuple[type, ...]:
    try:
        import bitsandbytes as bnb
    except ImportError:  # pragma: no cover - a quantized model implies bitsandbytes
        return ()
    return (bnb.nn.Params4bit, bnb.nn.Int8Params)
