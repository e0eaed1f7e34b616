"""Turn training checkpoints into Hugging Face artefacts: PEFT adapters, full models, merged models.

Neither path holds the base model twice: ``convert`` builds the model skeleton on the ``meta`` device
and fills it with the checkpoint's tensors only (an adapter export never reads the base weights at all);
``merge`` loads the 16-bit base once and merges the adapter into it in place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtune.errors import ConfigError, ModelLoadError

DTYPES = ("auto", "fp32", "bf16", "fp16")


@dataclass
class ExportResult:
    """What was written: ``kind`` is ``'adapter'`` or ``'full'``."""

    kind: str
    out_dir: str
    tensors: int


def torch_dtype(name: str, model_config: dict | None = None) -> Any:
    """``fp32``/``bf16``/``fp16``, or ``auto``: the dtype the model's ``config.json`` declares (else fp32)."""
    import torch

    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
             "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}  # fmt: skip
    if name == "auto":
        declared = (model_config or {}).get("dtype") or (model_config or {}).get("torch_dtype")
        return table.get(str(declared), torch.float32)
    if name not in table:
        raise ConfigError(f"--dtype: expected one of {', '.join(DTYPES)}, got {name!r}")
    return table[name]


# -- convert ----------------------------------------------------------------------------------------------------
def convert_checkpoint(
    cfg: Any,
    checkpoint: str,
    out_dir: str,
    dtype: str = "auto",
    max_shard_size: str = "5GB",
    progress: bool = True,
) -> ExportResult:
    """Write the model of an xtune ``checkpoint`` (trained with config ``cfg``) to ``out_dir``.

    LoRA-style runs (frozen base) give a PEFT adapter directory; runs that train the base give a full
    Hugging Face model (safetensors shards of ``max_shard_size``) in ``dtype``. The tokenizer is saved
    alongside either way, so ``xtune chat OUT_DIR`` works directly.
    """
    from tqdm import tqdm

    from xtune.engine.checkpoint import load_state_dict
    from xtune.hub import read_model_config, resolve_model_path

    if not os.path.exists(checkpoint):
        raise ModelLoadError(f"checkpoint `{checkpoint}` does not exist")
    model_cfg = cfg.model
    base_path = resolve_model_path(model_cfg.path)
    target_dtype = torch_dtype(dtype, read_model_config(model_cfg.path))
    model = _meta_model(base_path, model_cfg)
    is_adapter = hasattr(model, "peft_config")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    prefix = "llm."  # SupervisedFinetune keeps the HF/peft model in `self.llm`

    def keep(name: str) -> bool:  # adapters: read only the trained tensors (never ZeRO-3's frozen base)
        return name.startswith(prefix) and (not is_adapter or name[len(prefix) :] in trainable)

    state = load_state_dict(checkpoint, keep=keep)
    tensors = {}
    for name in tqdm(sorted(state), desc="checkpoint tensors", unit="tensor", disable=not progress):
        value = state.pop(name)
        if not is_adapter and value.is_floating_point():
            value = value.to(target_dtype)
        tensors[name[len(prefix) :]] = value
    missing = trainable - set(tensors)
    if missing:
        raise ModelLoadError(
            f"{checkpoint}: {len(missing)} of the {len(trainable)} trained weights of this config's model are "
            f"not in the checkpoint (e.g. `{prefix}{sorted(missing)[0]}`); was it trained with this config?"
        )

    os.makedirs(out_dir, exist_ok=True)
    if is_adapter:
        _load(model, tensors, checkpoint)
        for peft_config in model.peft_config.values():
            peft_config.base_model_name_or_path = (
                base_path if _is_embedded(model_cfg.path) else model_cfg.path
            )
        # peft's "auto" also saves the *base* embedding/head weights whenever `lm_head` or `embed_tokens` is
        # a LoRA target; they are frozen and unchanged (xtune never resizes the vocabulary) and would be
        # the only base weights an adapter needs, so they stay out: the adapter loads on the base as is.
        model.save_pretrained(out_dir, safe_serialization=True, save_embedding_layers=False)
        kind = "adapter"
    else:
        if {n for n, _ in model.named_parameters()} - set(tensors):
            # the base trained only in part (frozen layers are not checkpointed): load it once, overlay
            from transformers import AutoModelForCausalLM

            model = AutoModelForCausalLM.from_pretrained(
                base_path,
                dtype=target_dtype,
                trust_remote_code=bool(model_cfg.get("trust_remote_code", False)),
            )
        _load(model, tensors, checkpoint)
        if getattr(model.config, "tie_word_embeddings", False):
            model.tie_weights()
        unset = [n for n, p in model.named_parameters() if p.is_meta]
        if unset:
            raise ModelLoadError(f"{checkpoint}: weights still unset after loading, e.g. `{unset[0]}`")
        model.config.use_cache = True
        model.save_pretrained(out_dir, safe_serialization=True, max_shard_size=max_shard_size)
        _copy_generation_config(base_path, out_dir)
        kind = "full"
    _save_tokenizer(cfg.get("tokenizer") or model_cfg.path, out_dir)
    return ExportResult(kind, out_dir, len(tensors))


def _load(model: Any, tensors: dict, checkpoint: str) -> None:
    try:
        model.load_state_dict(tensors, strict=False, assign=True)
    except RuntimeError as exc:  # shape mismatches: a different rank, architecture or vocabulary
        first = str(exc).strip().splitlines()[-1].strip()
        raise ModelLoadError(f"{checkpoint} does not match this config's model: {first}") from exc


def _meta_model(base_path: str, model_cfg: Any) -> Any:
    """The configured model (base + adapter) with every weight on the ``meta`` device (no memory)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    from xtune.registry import ADAPTERS

    trust = bool(model_cfg.get("trust_remote_code", False))
    config = AutoConfig.from_pretrained(base_path, trust_remote_code=trust)
    config.use_cache = True
    if hasattr(config, "quantization_config"):
        # a QLoRA adapter targets the same module names on the 16-bit architecture
        del config.quantization_config
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust)
    adapter_cfg = model_cfg.get("adapter") or dict(type="LoRA")
    adapter = ADAPTERS.build(dict(adapter_cfg)) if isinstance(adapter_cfg, dict) else adapter_cfg
    return adapter.apply(model, quantized=False)


def _is_embedded(path: str) -> bool:
    from xtune.testing.tiny import is_embedded

    return is_embedded(path)


# -- merge ------------------------------------------------------------------------------------------------------
def merge_adapter(
    base: str,
    adapter_dir: str,
    out_dir: str,
    dtype: str = "auto",
    max_shard_size: str = "5GB",
    trust_remote_code: bool = False,
) -> ExportResult:
    """Merge the PEFT adapter in ``adapter_dir`` into the 16-bit ``base`` and save a plain HF model.

    A quantized base is refused: merging low-rank updates into 4/8-bit weights rounds them away. QLoRA
    adapters are merged into the original 16-bit model the quantized one was made from.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from xtune.hub import read_model_config, resolve_model_path

    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise ModelLoadError(
            f"--adapter: `{adapter_dir}` has no adapter_config.json; is it a PEFT adapter dir?"
        )
    base_path = resolve_model_path(base, key="--base")
    config = read_model_config(base) or {}
    check_unquantized(base, config)
    target_dtype = torch_dtype(dtype, config)
    if target_dtype not in _sixteen_or_more():
        raise ConfigError(f"--dtype: merging needs a 16- or 32-bit dtype, got {dtype}")
    model = AutoModelForCausalLM.from_pretrained(
        base_path, dtype=target_dtype, trust_remote_code=trust_remote_code
    )
    if getattr(model, "hf_quantizer", None) is not None or getattr(model, "is_quantized", False):
        raise ConfigError(_quantized_message(base, "loaded quantized"))
    model = PeftModel.from_pretrained(model, adapter_dir)
    merged = model.merge_and_unload(progressbar=True)
    merged.config.use_cache = True
    os.makedirs(out_dir, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True, max_shard_size=max_shard_size)
    _copy_generation_config(base_path, out_dir)
    tokenizer_source = adapter_dir if (Path(adapter_dir) / "tokenizer_config.json").is_file() else base_path
    _save_tokenizer(tokenizer_source, out_dir)
    return ExportResult("full", out_dir, len(merged.state_dict()))


def check_unquantized(base: str, config: dict) -> None:
    """Raise a clear :class:`ConfigError` when ``config`` (a ``config.json``) describes quantized weights."""
    if config.get("quantization_config"):
        raise ConfigError(
            _quantized_message(base, json.dumps(config["quantization_config"].get("quant_method")))
        )


def _quantized_message(base: str, method: str) -> str:
    return (
        f"--base: `{base}` holds quantized weights ({method}). Merging an adapter into 4/8-bit weights "
        "rounds the update away; merge into the original 16-bit model instead (the one the quantized "
        "checkpoint was made from, or that QLoRA quantized on load), e.g. --base Qwen/Qwen1.5-14B-Chat."
    )


def _sixteen_or_more() -> tuple:
    import torch

    return (torch.float32, torch.bfloat16, torch.float16)


# -- shared -----------------------------------------------------------------------------------------------------
def load_any_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """A tokenizer from a model path/hub id/embedded name, or from a directory holding only tokenizer files
    (an adapter dir)."""
    if (Path(path) / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    from xtune.dataset.sft import load_tokenizer

    return load_tokenizer(path, trust_remote_code=trust_remote_code)


def _save_tokenizer(path: str, out_dir: str) -> None:
    load_any_tokenizer(path).save_pretrained(out_dir)


def _copy_generation_config(base_path: str, out_dir: str) -> None:
    """Keep the base's stop tokens and sampling defaults (the chat template's end-of-turn id above all)."""
    from transformers import GenerationConfig

    try:
        GenerationConfig.from_pretrained(base_path).save_pretrained(out_dir)
    except OSError:  # the base ships none: save_pretrained already wrote the model's default
        pass
