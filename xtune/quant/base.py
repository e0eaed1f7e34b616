"""The quantizer interface and the no-quantization component."""

from __future__ import annotations

from typing import Any, Protocol

from xtune.registry import QUANTIZERS


class Quantizer(Protocol):
    """What the model builder and the planner ask of a quantizer.

    Implementations keep heavy imports (transformers, bitsandbytes) inside methods, so the planner can
    ask ``bits_per_base_param`` without loading them.
    """

    #: True when the base weights are stored quantized (they can then only be frozen).
    quantized: bool

    def bits_per_base_param(self) -> float:
        """Storage bits per frozen base parameter in the quantized linear layers."""

    def hf_quantization_config(self, compute_dtype: Any, shards_params: bool = False) -> Any:
        """The ``quantization_config`` passed to ``from_pretrained`` (None for no quantization)."""

    # A quantized implementation also offers ``prepare_for_training(model, gradient_checkpointing) -> model``
    # (freeze the base, upcast what stays unquantized, enable checkpointing) and may offer
    # ``bits_per_unquantized_param()`` for the planner; see xtune/quant/bnb.py.


@QUANTIZERS.register_module()
class NoQuant:
    """Keep the base weights in the model's compute dtype (16-bit on GPU, fp32 on CPU)."""

    quantized = False

    def __init__(self) -> None:
        pass

    def bits_per_base_param(self) -> float:
        return 16.0

    def hf_quantization_config(self, compute_dtype: Any, shards_params: bool = False) -> None:
        return None
