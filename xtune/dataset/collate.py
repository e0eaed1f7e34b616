"""Batch collation: pad to the longest row, labels padded with -100."""

from __future__ import annotations

import torch

from xtune.registry import FUNCTIONS

IGNORE_INDEX = -100


@FUNCTIONS.register_module()
def sft_collate(rows: list[dict], pad_token_id: int = 0) -> dict[str, torch.Tensor]:
    """Right-pad ``input_ids``/``labels`` and build ``attention_mask``."""
    longest = max(len(r["input_ids"]) for r in rows)
    input_ids = torch.full((len(rows), longest), pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), longest), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        input_ids[i, :n] = torch.as_tensor(row["input_ids"])
        labels[i, :n] = torch.as_tensor(row["labels"])
        attention_mask[i, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
