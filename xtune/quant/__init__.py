"""Quantizer components: how the frozen base weights are stored (none, bitsandbytes 4/8-bit)."""

from xtune.quant.base import NoQuant, Quantizer

__all__ = ["NoQuant", "Quantizer"]
