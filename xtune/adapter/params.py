"""Parameter names and sizes of a decoder-only checkpoint from its ``config.json`` dict, without torch.

Names follow transformers' Qwen2/Llama layout (``model.layers.3.mlp.up_proj.weight``), so adapters can
count what a name pattern selects (``Freeze``) or what ``modules_to_save`` adds, for the planner.
"""

from __future__ import annotations

from xtune.planner.arch import linear_shapes


def param_numels(arch: dict) -> dict[str, int]:
    """``{parameter name: element count}`` as ``model.named_parameters()`` would list them."""
    hidden = arch["hidden_size"]
    layers = arch["num_hidden_layers"]
    vocab = arch["vocab_size"]
    qkv_bias = arch.get("attention_bias", arch.get("model_type", "qwen2") == "qwen2")
    shapes = {name: dims for name, dims, _ in linear_shapes(arch)}
    numels = {"model.embed_tokens.weight": vocab * hidden}
    for index in range(layers):
        prefix = f"model.layers.{index}."
        for name, (fan_in, fan_out) in shapes.items():
            group = "mlp" if name in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            numels[f"{prefix}{group}.{name}.weight"] = fan_in * fan_out
            if qkv_bias and name in ("q_proj", "k_proj", "v_proj"):
                numels[f"{prefix}{group}.{name}.bias"] = fan_out
        numels[f"{prefix}input_layernorm.weight"] = hidden
        numels[f"{prefix}post_attention_layernorm.weight"] = hidden
    numels["model.norm.weight"] = hidden
    if not arch.get("tie_word_embeddings", False):
        numels["lm_head.weight"] = vocab * hidden
    return numels


def name_matches(name: str, pattern: str) -> bool:
    """Whether ``pattern`` selects parameter ``name``.

    A plain pattern matches whole dotted components anywhere in the name: ``layers.3`` selects
    ``model.layers.3.mlp.up_proj.weight`` but not ``model.layers.30...``; ``norm`` selects
    ``model.norm.weight`` but not ``input_layernorm``. A pattern with ``*``, ``?`` or ``[`` is a
    shell glob over the full name (``*.layers.1[0-9].*``).
    """
    if any(ch in pattern for ch in "*?["):
        from fnmatch import fnmatchcase

        return fnmatchcase(name, pattern)
    return f".{pattern.strip('.')}." in f".{name}."
