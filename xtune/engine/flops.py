"""Training FLOPs of a decoder LM, for model FLOPs utilisation (MFU), and accelerator peak figures.

Counting follows the PaLM paper's MFU definition (appendix B): every matmul with a weight costs 2 FLOPs
per multiply-add in the forward pass and twice that in the backward pass, 6 per weight and token when
the weight trains (gradients for the input and for the weight) and 4 when it is frozen (input gradient
only: LoRA's frozen base). Attention scores and the weighted sum cost ``12 * layers * d_attn * seq``
per token, forward plus backward, trainable or not. Activation recomputation is not counted (that would
be hardware FLOPs utilisation), nor embeddings lookups, norms and element-wise work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Dense bf16/fp16 tensor-core peaks in TFLOP/s from the vendors' data sheets (no sparsity). Matched
# against torch.cuda.get_device_name() in order, so more specific names come first.
PEAK_TFLOPS: list[tuple[str, float]] = [
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("H800", 989.0),
    ("H20", 148.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
    ("V100", 125.0),
    ("T4", 65.0),
]


@dataclass
class FlopsModel:
    """Per-token weight FLOPs and the attention term of one model (see the module docstring)."""

    weight_flops_per_token: float
    layers: int
    attn_width: int

    def batch_flops(self, sample_lengths: list[int]) -> float:
        """Training FLOPs of one step over samples of these (unpadded) lengths."""
        tokens = sum(sample_lengths)
        attention = 12.0 * self.layers * self.attn_width * sum(n * n for n in sample_lengths)
        return self.weight_flops_per_token * tokens + attention


def flops_model(model: Any) -> FlopsModel:
    """Measure ``model`` (a ``transformers`` model, possibly inside peft / an mmengine wrapper).

    Uses each ``nn.Linear``'s ``in_features * out_features`` (correct for bitsandbytes 4/8-bit layers and
    for ZeRO-3 partitioned weights, whose tensors are packed or empty) and its weight's ``requires_grad``.
    """
    from torch import nn

    weight_flops = 0.0
    for name, module in model.named_modules():
        # peft's modules_to_save keeps the frozen original next to the trained copy; only one runs
        if isinstance(module, nn.Linear) and "original_module" not in name.split("."):
            factor = 6.0 if module.weight.requires_grad else 4.0
            weight_flops += factor * module.in_features * module.out_features
    config = _hf_config(model)
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    head_dim = int(getattr(config, "head_dim", 0) or (hidden // heads if heads else 0))
    return FlopsModel(weight_flops, layers, heads * head_dim)


def _hf_config(model: Any) -> Any:
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "num_hidden_layers"):
            return config
    return None


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU from its name, or None when unknown."""
    for key, value in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None
