"""Load a Hugging Face causal LM as configured: resolve the path, quantize, adapt, checkpoint."""

from __future__ import annotations

from typing import Any

import torch

from xtune.errors import ModelLoadError
from xtune.hub import resolve_model_path


def load_causal_lm(
    path: str,
    quantizer: Any,
    adapter: Any,
    dtype: torch.dtype,
    gradient_checkpointing: bool = False,
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    device_map: Any = None,
    shards_params: bool = False,
) -> Any:
    """``AutoModelForCausalLM.from_pretrained`` with xtune's quantizer and adapter applied.

    ``shards_params`` tells the quantizer that a strategy will flatten and shard parameters (ZeRO-3,
    FSDP), so 4-bit storage must use the compute dtype.
    """
    from transformers import AutoModelForCausalLM

    local = resolve_model_path(path)
    from xtune.quant.prequantized import check_prequantized

    check_prequantized(path, quantizer, resolved=local)  # GPTQ/AWQ/...: refuse before weights load
    kwargs: dict[str, Any] = dict(dtype=dtype, trust_remote_code=trust_remote_code)
    if revision:
        kwargs["revision"] = revision
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map is not None:
        kwargs["device_map"] = device_map
    quant_config = quantizer.hf_quantization_config(dtype, shards_params=shards_params)
    if quant_config is not None:
        kwargs["quantization_config"] = quant_config
    try:
        model = AutoModelForCausalLM.from_pretrained(local, **kwargs)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot load the model `{path}`: {exc}\nDownload it or pass a local path via "
            "--cfg-options model.path=DIR."
        ) from exc
    # from_pretrained returns eval mode; training code expects train mode (and bitsandbytes' CPU
    # 4-bit path repacks weights in eval mode, see docs/quantization_and_adapters.md).
    model.train()
    model.config.use_cache = False
    if quantizer.quantized:
        prepare = getattr(quantizer, "prepare_for_training", None)
        if prepare is not None:
            model = prepare(model, gradient_checkpointing)
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if not adapter.trains_base:
            model.enable_input_require_grads()
    model = adapter.apply(model, quantized=quantizer.quantized)
    return model
