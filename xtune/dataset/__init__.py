"""Data pipeline: sources → format → chat template + label mask → truncate → (pack) → collate."""

from xtune.dataset.collate import sft_collate
from xtune.dataset.formats import alpaca_to_messages
from xtune.dataset.sft import SFTDataset
from xtune.dataset.template import encode_messages

__all__ = ["SFTDataset", "alpaca_to_messages", "encode_messages", "sft_collate"]
