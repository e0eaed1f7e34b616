"""Parameter counts from a HF ``config.json`` dict (decoder-only transformers such as Qwen/Llama)."""

from __future__ import annotations


def _dims(arch: dict) -> tuple[int, int, int, int, int, int]:
    hidden = arch["hidden_size"]
    heads = arch["num_attention_heads"]
    kv_heads = arch.get("num_key_value_heads") or heads
    head_dim = arch.get("head_dim") or hidden // heads
    return hidden, heads, kv_heads, head_dim, arch["intermediate_size"], arch["num_hidden_layers"]


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
    hidden, heads, kv_heads, head_dim, _, layers = _dims(arch)
    vocab = arch["vocab_size"]
    linears = sum(count * fan_in * fan_out for _, (fan_in, fan_out), count in linear_shapes(arch))
    qkv_bias = (heads + 2 * kv_heads) * head_dim * layers if arch.get("model_type", "qwen2") == "qwen2" else 0
    norms = (2 * layers + 1) * hidden
    embed = vocab * hidden
    head = 0 if arch.get("tie_word_embeddings", False) else vocab * hidden
    return embed + linears + qkv_bias + norms + head
