"""Adapter components: which weights train (LoRA/DoRA/rsLoRA via peft, full fine-tuning, named modules)."""

from xtune.adapter.base import Adapter
from xtune.adapter.freeze import Freeze
from xtune.adapter.full import Full
from xtune.adapter.lora import LoRA

__all__ = ["Adapter", "Freeze", "Full", "LoRA"]
