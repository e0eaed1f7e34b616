"""The mmengine model wrapper around a Hugging Face causal LM, and its losses."""

from xtune.model.loss import ChunkedCrossEntropy, CrossEntropy
from xtune.model.sft import SupervisedFinetune

__all__ = ["ChunkedCrossEntropy", "CrossEntropy", "SupervisedFinetune"]
