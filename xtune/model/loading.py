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
    attn_implementation = resolve_attn_implementation(attn_implementation, dtype)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_map is None and quantizer.quantized and not shards_params and torch.cuda.is_available():
        # bitsandbytes quantizes weights as they land on the GPU: load straight onto this process's
        # device (set per rank by the launcher) instead of holding the 16-bit model in CPU RAM first.
        device_map = {"": torch.cuda.current_device()}
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


def resolve_attn_implementation(requested: str | None, dtype: torch.dtype) -> str | None:
    """``'auto'``: FlashAttention-2 when ``flash_attn`` is installed, a GPU is present and the weights are
    16-bit; otherwise None, i.e. transformers' own pick (``sdpa`` where the architecture supports it).
    Both handle packed rows: transformers derives sample boundaries from ``position_ids``.
    """
    if requested != "auto":
        return requested
    import importlib.util

    if (
        torch.cuda.is_available()
        and dtype in (torch.float16, torch.bfloat16)
        and importlib.util.find_spec("flash_attn")
    ):
        return "flash_attention_2"
    return None


def compile_layers(model: Any, options: bool | dict) -> int:
    """``torch.compile`` each decoder layer in place (``options``: True or torch.compile kwargs).

    Layer by layer rather than the whole model: identical layers share one compiled graph (torch >= 2.5
    passes module parameters as graph inputs), the loss and the Python around the decoder stay eager,
    and it composes with gradient checkpointing and peft wrappers. Compilation happens lazily at the
    first forward. Returns the number of modules compiled.
    """
    kwargs = dict(options) if isinstance(options, dict) else {}
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder()
    layers = getattr(decoder, "layers", None)
    targets = list(layers) if layers is not None else [decoder]
    for module in targets:
        module.compile(**kwargs)
    return len(targets)
