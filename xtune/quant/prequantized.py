"""Refuse checkpoints that were quantized when they were made (GPTQ, AWQ, FP8, ...), before weights load.

Such a checkpoint's linear weights were rounded to a few bits with information lost, and are stored in a
kernel-specific packed form: they cannot be trained as ordinary weights (gradients do not flow into them),
and re-quantizing them with bitsandbytes is impossible. Loading them only to fail later wastes minutes and
tens of gigabytes; ignoring a user's ``BnB4bit`` setting silently would be worse. So xtune reads
``config.json`` (``quantization_config.quant_method``) first, or when it is not available locally,
the checkpoint's name, and stops with the way forward: the original 16-bit checkpoint with QLoRA.

Stdlib only, so the CLI can run this check in milliseconds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from xtune.errors import ConfigError, ModelLoadError

# Readable names for the quant_method values transformers knows (QuantizationMethod).
METHOD_NAMES = {
    "gptq": "GPTQ",
    "awq": "AWQ",
    "aqlm": "AQLM",
    "vptq": "VPTQ",
    "quanto": "Quanto",
    "eetq": "EETQ",
    "higgs": "HIGGS",
    "hqq": "HQQ",
    "compressed-tensors": "compressed-tensors",
    "fbgemm_fp8": "FBGEMM FP8",
    "torchao": "torchao",
    "gguf": "GGUF",
    "bitnet": "BitNet",
    "spqr": "SpQR",
    "fp8": "FP8",
    "quark": "Quark",
    "fp_quant": "FP-Quant",
    "auto-round": "AutoRound",
    "mxfp4": "MXFP4",
    "nvfp4": "NVFP4",
    "mxfp8": "MXFP8",
    "bitsandbytes": "bitsandbytes",
}

# Name tokens (split at '-', '_' and '.') that mark a quantized export; checked from the end of the name.
METHOD_TOKENS = {
    "gptq": "gptq",
    "awq": "awq",
    "aqlm": "aqlm",
    "hqq": "hqq",
    "eetq": "eetq",
    "exl2": "exl2",
    "gguf": "gguf",
    "bitnet": "bitnet",
    "fp8": "fp8",
    "vptq": "vptq",
    "autoround": "auto-round",
}
# Tokens that qualify a quantized export's name without naming the method (stripped after one that does).
QUALIFIER_TOKEN = re.compile(
    r"^(int[2-8]|[1-8]bit|w[48]a(8|16)|g?(32|64|128)g?|dynamic|static|marlin|gemm|gemv|exllama|"
    r"act(order)?|sym|asym|quantized|fp16|bf16|\d+(\.\d+)?bpw)$",
    re.IGNORECASE,
)
SPLIT = re.compile(r"([-_.])")


@dataclass
class QuantizedCheckpoint:
    """What is known about a pre-quantized checkpoint: its method, bits and where that was read."""

    method: str  # the quant_method value, e.g. 'gptq'
    bits: int | None  # weight bits when the config says so
    source: str  # 'config.json' or 'name'

    @property
    def name(self) -> str:
        return METHOD_NAMES.get(self.method, self.method)


def detect_quantization(path: str, resolved: str | None = None) -> QuantizedCheckpoint | None:
    """The quantization a checkpoint was saved with, read from its ``config.json`` without loading weights.

    ``resolved`` is a local directory for ``path`` when one is already known. When no config.json is
    available locally (a hub id not in the cache), the name decides (``-GPTQ-Int4``, ``-AWQ``, ...).
    """
    from xtune.hub import read_model_config

    config = read_model_config(resolved or path)
    if config is None and resolved and resolved != path:
        config = read_model_config(path)
    if config is not None:
        quant = config.get("quantization_config")
        if not isinstance(quant, dict):
            return None
        method = str(quant.get("quant_method") or ("bitsandbytes" if _is_bnb(quant) else "unknown")).lower()
        return QuantizedCheckpoint(method=method, bits=_bits(quant), source="config.json")
    method = method_from_name(path)
    return QuantizedCheckpoint(method=method, bits=_bits_from_name(path), source="name") if method else None


def method_from_name(path: str) -> str | None:
    """The quant method a checkpoint's name declares (``Qwen1.5-72B-Chat-GPTQ-Int4`` → ``'gptq'``)."""
    for token in reversed(SPLIT.split(_basename(path))[::2]):
        method = METHOD_TOKENS.get(token.lower())
        if method:
            return method
    return None


def original_checkpoint(path: str) -> str | None:
    """Guess the 16-bit original of a quantized export by stripping its quantization suffix.

    ``Qwen/Qwen1.5-72B-Chat-GPTQ-Int4`` → ``Qwen/Qwen1.5-72B-Chat``; ``/models/Qwen1.5-7B-Chat-AWQ`` →
    ``/models/Qwen1.5-7B-Chat``. None when the name carries no quantization marker.
    """
    base = _basename(path)
    parts = SPLIT.split(base)  # [token, sep, token, sep, ...]
    keep = len(parts)
    found = False
    while keep > 1:
        token = parts[keep - 1]
        if token.lower() in METHOD_TOKENS:
            found = True
        elif not QUALIFIER_TOKEN.match(token):
            break
        keep -= 2
    if not found or keep < 1:
        return None
    stripped = "".join(parts[:keep])
    return path[: len(path.rstrip("/")) - len(base)] + stripped


def check_prequantized(
    path: str, quantizer: Any = None, resolved: str | None = None, key: str = "model.path"
) -> None:
    """Raise a clear error when ``path`` is a pre-quantized checkpoint xtune cannot train as configured.

    GPTQ, AWQ, FP8 and every other post-training format are refused. A checkpoint saved by bitsandbytes
    is trainable with adapters, but only when ``quantizer`` is the matching ``BnB4bit``/``BnB8bit``
    (transformers would otherwise load it quantized behind a config that says it is not).
    """
    found = detect_quantization(path, resolved)
    if found is None:
        return
    if found.method == "bitsandbytes":
        _check_bnb_checkpoint(path, found, quantizer, resolved)
        return
    bits = f"{found.bits}-bit" if found.bits else "low-precision"
    seen = (
        f"its config.json declares quantization_config.quant_method='{found.method}'"
        if found.source == "config.json"
        else "its name says so; its config.json is not available locally to confirm"
    )
    original = original_checkpoint(path)
    suggested = original or "ORIGINAL_CHECKPOINT"
    if original and looks_local(original) and not os.path.isdir(os.path.expanduser(original)):
        name = _basename(original)
        target = (
            f"the original 16-bit checkpoint it was made from (probably `{name}`: download it, or point "
            f"{key} at your copy)"
        )
        suggested = f"/path/to/{name}"
    elif original:
        target = f"the original 16-bit checkpoint it was made from (probably `{original}`)"
    else:
        target = "the original 16-bit (bf16/fp16) checkpoint it was made from"
    user_quant = ""
    if quantizer is not None and getattr(quantizer, "quantized", False):
        user_quant = (
            f" Your model.quantizer ({type(quantizer).__name__}) cannot apply either: bitsandbytes quantizes "
            f"16-bit weights, not {found.name} ones, and xtune will not ignore that setting silently."
        )
    raise ModelLoadError(
        f"{key}: `{path}` is a pre-quantized checkpoint ({found.name}, {bits}): {seen}.\n"
        f"Why xtune stops: its weights were rounded to {bits} values when it was made, with information "
        f"lost, and are stored packed for {found.name} kernels; gradients cannot flow into them as trainable "
        f"weights.{user_quant}\n"
        f"Way forward: fine-tune {target} with QLoRA: bitsandbytes quantizes it to 4-bit NF4 at load time "
        f"and LoRA adapters train on top. Use a QLoRA config (`tools/list_cfg.py qlora`) or set "
        f"model.quantizer=dict(type='BnB4bit') with a LoRA adapter, and --cfg-options {key}={suggested}."
    )


def looks_local(path: str) -> bool:
    from xtune.hub import looks_local as hub_looks_local

    return hub_looks_local(path)


def _check_bnb_checkpoint(
    path: str, found: QuantizedCheckpoint, quantizer: Any, resolved: str | None
) -> None:
    from xtune.hub import read_model_config

    config = read_model_config(resolved or path) or {}
    quant = config.get("quantization_config", {})
    bits = 4 if quant.get("load_in_4bit") else 8 if quant.get("load_in_8bit") else found.bits
    wanted = {4: "BnB4bit", 8: "BnB8bit"}.get(bits or 0, "BnB4bit")
    have = type(quantizer).__name__ if quantizer is not None else "NoQuant"
    if have != wanted:
        raise ConfigError(
            f"model.quantizer: `{path}` is stored quantized by bitsandbytes ({bits}-bit), so it loads "
            f"quantized "
            f"whatever model.quantizer says, and only adapters can train on it. Set "
            f"model.quantizer=dict(type='{wanted}') (with a LoRA adapter) to say so, or train the 16-bit "
            f"original instead."
        )
    quant_type = quant.get("bnb_4bit_quant_type")
    if bits == 4 and quant_type and getattr(quantizer, "quant_type", quant_type) != quant_type:
        raise ConfigError(
            f"model.quantizer.quant_type: `{path}` was saved in {quant_type}, but the config asks for "
            f"{quantizer.quant_type}; an already-quantized checkpoint cannot be re-quantized. "
            f"Set model.quantizer.quant_type='{quant_type}'."
        )
    double = quant.get("bnb_4bit_use_double_quant")
    if bits == 4 and double is not None and getattr(quantizer, "double_quant", double) != double:
        raise ConfigError(
            f"model.quantizer.double_quant: `{path}` was saved with double_quant={double}, but the config "
            f"asks for {quantizer.double_quant}; an already-quantized checkpoint keeps its own. "
            f"Set model.quantizer.double_quant={double}."
        )


def _is_bnb(quant: dict) -> bool:
    return bool(quant.get("load_in_4bit") or quant.get("load_in_8bit"))


def _bits(quant: dict) -> int | None:
    for name in ("bits", "w_bit", "nbits", "weight_bits"):
        value = quant.get(name)
        if isinstance(value, int):
            return value
    if quant.get("load_in_4bit"):
        return 4
    if quant.get("load_in_8bit") or "fp8" in str(quant.get("quant_method", "")):
        return 8
    return None


def _bits_from_name(path: str) -> int | None:
    match = re.search(r"(?:int|w)([2-8])|([1-8])bit", _basename(path), re.IGNORECASE)
    return int(match.group(1) or match.group(2)) if match else None


def _basename(path: str) -> str:
    return os.path.basename(path.rstrip("/"))


def check_model_cfg(model_cfg: Any) -> None:
    """:func:`check_prequantized` for a config's ``model`` dict (``path`` and ``quantizer``), for the CLI."""
    from xtune.registry import QUANTIZERS

    quantizer = model_cfg.get("quantizer")
    if isinstance(quantizer, dict):
        quantizer = QUANTIZERS.build(dict(quantizer))
    check_prequantized(model_cfg["path"], quantizer)
