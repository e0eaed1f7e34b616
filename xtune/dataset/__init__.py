"""Data pipeline: sources → format → chat template + label mask → truncate → mix → (pack) → collate."""

from xtune.dataset.collate import sft_collate
from xtune.dataset.formats import Alpaca, OpenAIMessages, PlainText, RowError, ShareGPT
from xtune.dataset.packing import best_fit_decreasing, pack, packing_efficiency
from xtune.dataset.sft import SFTDataset, load_tokenizer
from xtune.dataset.template import encode_batch, encode_messages, resolve_chat_template

__all__ = [
    "Alpaca",
    "OpenAIMessages",
    "PlainText",
    "RowError",
    "SFTDataset",
    "ShareGPT",
    "best_fit_decreasing",
    "pack",
    "encode_batch",
    "encode_messages",
    "load_tokenizer",
    "packing_efficiency",
    "resolve_chat_template",
    "sft_collate",
]
