"""Quantizer components: how the frozen base weights are stored (none, bitsandbytes 4/8-bit).

Also the pre-quantized checkpoint check (GPTQ, AWQ, FP8, ...) that runs before any weight loads.
"""

from xtune.quant.base import NoQuant, Quantizer
from xtune.quant.bnb import BnB4bit, BnB8bit
from xtune.quant.prequantized import check_prequantized, detect_quantization, original_checkpoint

__all__ = [
    "BnB4bit",
    "BnB8bit",
    "NoQuant",
    "Quantizer",
    "check_prequantized",
    "detect_quantization",
    "original_checkpoint",
]
