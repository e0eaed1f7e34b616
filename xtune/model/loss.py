"""Causal-LM losses computed from the decoder's hidden states and the output head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xtune.registry import LOSSES

IGNORE_INDEX = -100


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """Labels aligned with inputs (HF convention) → the target of each position (next token)."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


@LOSSES.register_module()
class CrossEntropy:
    """Token-level mean cross-entropy over trained (non ``-100``) targets; logits in fp32."""

    def __init__(self) -> None:
        pass

    def __call__(self, hidden: torch.Tensor, head: nn.Module, labels: torch.Tensor) -> torch.Tensor:
        targets = shift_labels(labels)
        logits = head(hidden).float()
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX
        )
