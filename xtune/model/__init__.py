"""The mmengine model wrapper around a Hugging Face causal LM, and its losses."""

from xtune.model.loss import CrossEntropy
from xtune.model.sft import SupervisedFinetune

__all__ = ["CrossEntropy", "SupervisedFinetune"]
