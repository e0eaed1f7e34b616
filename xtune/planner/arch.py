"""Parameter counts from a HF ``config.json`` dict (decoder-only transformers such as Qwen/Llama).

Pure arithmetic on the shapes transformers builds (``Qwen2ForCausalLM``/``LlamaForCausalLM``), so the
planner knows a model's size without torch and without weights.
"""

from __future__ import annotations

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def _dims(arch: dict) -> tuple[int, int, int, int, int, int]:
    hidden = arch["hidden_size"]
    heads = arch["num_attention_heads"]
    kv_heads = arch.get("num_key_value_heads") or heads
    head_dim = arch.get("head_dim") or hidden // heads
    return hidden, heads, kv_heads, head_dim, arch["intermediate_size"], arch["num_hidden_layers"]


def _qkv_bias(arch: dict) -> bool:
    # Qwen1.5/Qwen2 always have q/k/v biases (Qwen2Attention: bias=True); Llama-style configs say so
    # with ``attention_bias``.
    return bool(arch.get("attention_bias", arch.get("model_type", "qwen2") == "qwen2"))


def linear_shapes(arch: dict) -> list[tuple[str, tuple[int, int], int]]:
    """``(module name, (in_features, out_features), how many)`` for each decoder linear (not lm_head)."""
    hidden, heads, kv_heads, head_dim, inter, layers = _dims(arch)
    return [
        ("q_proj", (hidden, heads * head_dim), layers),
        ("k_proj", (hidden, kv_heads * head_dim), layers),
        ("v_proj", (hidden, kv_heads * head_dim), layers),
        ("o_proj", (heads * head_dim, hidden), layers),
        ("gate_proj", (hidden, inter), layers),
        ("up_proj", (hidden, inter), layers),
        ("down_proj", (inter, hidden), layers),
    ]


def count_params(arch: dict) -> int:
    """Total parameters: embeddings, attention (q/k/v biases as in Qwen), MLP, RMSNorms, untied head."""
    return sum(numel * count for _, numel, count in leaf_modules(arch))


def leaf_modules(arch: dict) -> list[tuple[str, int, int]]:
    """``(module name, parameters of one such module, how many)`` for every module that owns parameters.

    This is the granularity DeepSpeed ZeRO-3 gathers at (``model_to_params`` in
    ``deepspeed/runtime/zero/stage3.py`` counts ``module.parameters(recurse=False)`` per module).
    """
    hidden, heads, kv_heads, head_dim, _, layers = _dims(arch)
    vocab = arch["vocab_size"]
    bias = _qkv_bias(arch)
    modules = [("embed_tokens", vocab * hidden, 1)]
    for name, (fan_in, fan_out), count in linear_shapes(arch):
        has_bias = bias and name in ("q_proj", "k_proj", "v_proj")
        modules.append((name, fan_in * fan_out + (fan_out if has_bias else 0), count))
    modules.append(("input_layernorm", hidden, layers))
    modules.append(("post_attention_layernorm", hidden, layers))
    modules.append(("norm", hidden, 1))
    if not arch.get("tie_word_embeddings", False):
        modules.append(("lm_head", vocab * hidden, 1))
    return modules


def quantizable_params(arch: dict) -> int:
    """Weights of the decoder linears, which bitsandbytes stores quantized (biases, norms, embeddings and
    ``lm_head`` stay unquantized: transformers' bnb integration skips ``lm_head`` and non-Linear modules)."""
    return sum(count * fan_in * fan_out for _, (fan_in, fan_out), count in linear_shapes(arch))


def largest_module_params(arch: dict) -> int:
    """Parameters of the largest single module (ZeRO-3 gathers one module's weights at a time)."""
    return max(numel for _, numel, _ in leaf_modules(arch))


def largest_linear_params(arch: dict) -> int:
    """Parameters of the largest decoder linear (a quantized base dequantizes one at a time)."""
    return max(fan_in * fan_out for _, (fan_in, fan_out), _ in linear_shapes(arch))
