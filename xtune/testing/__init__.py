"""The embedded tiny Qwen2-architecture model, tokenizer and demo data (no download needed)."""

from xtune.testing.demo_data import make_demo_samples
from xtune.testing.tiny import (
    EMBEDDED_PREFIX,
    build_tiny_model,
    build_tiny_tokenizer,
    embedded_model_path,
    is_embedded,
    materialize_tiny,
)

__all__ = [
    "EMBEDDED_PREFIX",
    "build_tiny_model",
    "build_tiny_tokenizer",
    "embedded_model_path",
    "is_embedded",
    "make_demo_samples",
    "materialize_tiny",
]
