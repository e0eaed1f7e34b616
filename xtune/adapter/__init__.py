"""Adapter components: which weights train (LoRA/DoRA via peft, full fine-tuning)."""

from xtune.adapter.base import Adapter
from xtune.adapter.full import Full
from xtune.adapter.lora import LoRA

__all__ = ["Adapter", "Full", "LoRA"]
