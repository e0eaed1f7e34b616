"""Architectures without weights: a checkpoint's own ``config.json`` when it is local, else a built-in table.

The table holds the published shapes of the Qwen1.5 family (the ``config.json`` of each
``Qwen/Qwen1.5-<size>`` repository on the Hugging Face hub; base and ``-Chat`` share them), so
``xtune plan --model Qwen/Qwen1.5-72B-Chat`` answers on a machine that has never downloaded it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from xtune.errors import ConfigError


def _qwen1_5(hidden: int, layers: int, heads: int, kv_heads: int, inter: int, vocab: int, tied: bool) -> dict:
    return dict(
        model_type="qwen2",
        architectures=["Qwen2ForCausalLM"],
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        intermediate_size=inter,
        vocab_size=vocab,
        tie_word_embeddings=tied,
        max_position_embeddings=32768,
    )


# name -> (config.json fields, parameter count the hub's model card publishes)
QWEN1_5: dict[str, tuple[dict, float]] = {
    "Qwen1.5-0.5B": (_qwen1_5(1024, 24, 16, 16, 2816, 151936, True), 0.464e9),
    "Qwen1.5-1.8B": (_qwen1_5(2048, 24, 16, 16, 5504, 151936, False), 1.84e9),
    "Qwen1.5-4B": (_qwen1_5(2560, 40, 20, 20, 6912, 151936, False), 3.95e9),
    "Qwen1.5-7B": (_qwen1_5(4096, 32, 32, 32, 11008, 151936, False), 7.72e9),
    "Qwen1.5-14B": (_qwen1_5(5120, 40, 40, 40, 13696, 152064, False), 14.17e9),
    "Qwen1.5-32B": (_qwen1_5(5120, 64, 40, 8, 27392, 152064, False), 32.5e9),
    "Qwen1.5-72B": (_qwen1_5(8192, 80, 64, 64, 24576, 152064, False), 72.3e9),
    "Qwen1.5-110B": (_qwen1_5(8192, 80, 64, 8, 49152, 152064, False), 111.2e9),
}
BUILTIN: dict[str, dict] = {name: fields for name, (fields, _) in QWEN1_5.items()}
PUBLISHED_PARAMS: dict[str, float] = {name: total for name, (_, total) in QWEN1_5.items()}

# ``Qwen/Qwen1.5-72B-Chat``, ``qwen1.5-7b``, ``/models/Qwen1.5-14B-Chat``: the size, then nothing or
# ``-Chat``. Pre-quantized exports (``-Chat-GPTQ-Int4``, ``-AWQ``) are other checkpoints and do not match.
_QWEN1_5_NAME = re.compile(r"^qwen1\.5-(\d+(?:\.\d+)?)b(?:-chat)?$", re.IGNORECASE)


class UnknownArchitecture(ConfigError):
    """Neither a local ``config.json`` nor the built-in table describes the model."""


@dataclass(frozen=True)
class Architecture:
    """A model's ``config.json`` fields and where they came from (``'config.json at …'`` or ``'built-in …'``)."""

    name: str
    config: dict
    source: str


def builtin_name(path: str) -> str | None:
    """The built-in table entry a hub id or directory name refers to, or None."""
    base = os.path.basename(os.path.normpath(str(path)))
    match = _QWEN1_5_NAME.match(base)
    if not match:
        return None
    name = f"Qwen1.5-{match.group(1)}B"
    return name if name in BUILTIN else None


def resolve_arch(path: str, key: str = "model.path") -> Architecture:
    """The architecture of the checkpoint ``path`` names, without loading (or downloading) weights.

    Looks in order at the checkpoint's own ``config.json`` (a local directory, an embedded test model
    or the local Hugging Face cache) and at the built-in table; raises :class:`ConfigError` naming
    ``key`` when neither knows it.
    """
    from xtune.hub import read_model_config

    config = read_model_config(path)
    if config is not None:
        return Architecture(os.path.basename(os.path.normpath(path)), config, f"config.json of {path}")
    name = builtin_name(path)
    if name is not None:
        return Architecture(name, dict(BUILTIN[name]), f"built-in table ({name})")
    known = ", ".join(BUILTIN)
    raise UnknownArchitecture(
        f"{key}: cannot tell the architecture of `{path}` without its config.json (not a local directory, "
        f"not in the local Hugging Face cache) and it is not in the built-in table ({known}). Download "
        f"its config.json (`huggingface-cli download {path} config.json --local-dir DIR`) and point "
        f"{key} at DIR."
    )
