"""``SFTDataset``: local JSON-lines rows → tokenized, masked, truncated samples."""

from __future__ import annotations

import json
from typing import Any

from torch.utils.data import Dataset

from xtune.errors import DataError
from xtune.registry import DATA_FORMATS, DATASETS
from xtune.dataset.template import encode_messages


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """``AutoTokenizer`` for a local dir, hub id or embedded model."""
    from transformers import AutoTokenizer

    from xtune.hub import resolve_model_path

    return AutoTokenizer.from_pretrained(
        resolve_model_path(path, key="tokenizer"), trust_remote_code=trust_remote_code
    )


@DATASETS.register_module()
class SFTDataset(Dataset):
    """Supervised fine-tuning samples from a JSON-lines file.

    Args:
        path: a ``.jsonl`` file.
        tokenizer: tokenizer path (defaults to the model's, filled in by the engine).
        format: a DATA_FORMATS name turning a row into ``messages``.
        max_length: longest sample in tokens; longer ones are truncated.
    """

    def __init__(self, path: str, tokenizer: str, format: str = "alpaca", max_length: int = 512) -> None:
        self.tokenizer = load_tokenizer(tokenizer)
        convert = DATA_FORMATS.get(format)
        self.samples = []
        with open(path) as f:
            for line_no, line in enumerate(f, start=1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}: line {line_no}: malformed JSON: {exc.msg}") from exc
                input_ids, labels = encode_messages(self.tokenizer, convert(row))
                self.samples.append({"input_ids": input_ids[:max_length], "labels": labels[:max_length]})

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return self.samples[index]
