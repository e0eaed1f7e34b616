"""Batch collation for padded and packed rows.

Padded rows (no ``position_ids``): right-padded ``input_ids``, ``labels`` padded with ``-100`` and a 2-D
``attention_mask``.

Packed rows (they carry per-sample ``position_ids`` restarting at 0): ``input_ids``, ``labels`` and
``position_ids`` and *no* ``attention_mask``. transformers then derives the sample boundaries from the
position ids (``masking_utils.find_packed_sequence_indices``): on ``sdpa``/``eager`` it builds a
block-diagonal causal mask, and ``flash_attention_2`` runs its variable-length kernel over the same
boundaries, so packed samples never attend to each other. Padding at the end of a packed row gets its
own positions (a separate block) and ``-100`` labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from xtune.registry import FUNCTIONS

IGNORE_INDEX = -100


def _fill(rows: list[dict], key: str, width: int, value: int) -> torch.Tensor:
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        seq = torch.as_tensor(row[key], dtype=torch.long)
        out[i, : len(seq)] = seq
    return out


@FUNCTIONS.register_module()
def sft_collate(
    rows: Sequence[dict], pad_token_id: int = 0, pad_to_multiple_of: int | None = None
) -> dict[str, torch.Tensor]:
    """Collate samples (or packed rows) into the tensors ``SupervisedFinetune.forward`` takes.

    Args:
        rows: dataset items with ``input_ids`` and ``labels`` (and ``position_ids`` when packed).
        pad_token_id: id written into padding positions (they are masked or in their own block).
        pad_to_multiple_of: round the batch width up, e.g. 8 or 64 for tensor-core friendly shapes.
    """
    rows = list(rows)
    width = max(len(r["input_ids"]) for r in rows)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    batch = {
        "input_ids": _fill(rows, "input_ids", width, pad_token_id),
        "labels": _fill(rows, "labels", width, IGNORE_INDEX),
    }
    if "position_ids" in rows[0]:
        positions = torch.arange(width, dtype=torch.long).repeat(len(rows), 1)
        for i, row in enumerate(rows):
            n = len(row["position_ids"])
            positions[i, :n] = torch.as_tensor(row["position_ids"], dtype=torch.long)
            positions[i, n:] -= n  # padding: a block of its own, starting at 0
        batch["position_ids"] = positions
    else:
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            mask[i, : len(row["input_ids"])] = 1
        batch["attention_mask"] = mask
    return batch
