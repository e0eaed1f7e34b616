"""bitsandbytes quantizers: the 4-bit NF4/FP4 base of QLoRA and the 8-bit LLM.int8() base.

Both only describe how ``from_pretrained`` stores the frozen base (a ``transformers.BitsAndBytesConfig``)
and how the loaded model is prepared for training; the trainable weights come from the adapter. Torch,
transformers, peft and bitsandbytes are imported inside methods so the planner and config validation can
ask ``bits_per_base_param`` without them.
"""

from __future__ import annotations

from typing import Any, Literal

from xtune.errors import ConfigError
from xtune.registry import QUANTIZERS

DTYPE_NAMES = ("float32", "bfloat16", "float16")
STORAGE_NAMES = ("uint8", "float32", "bfloat16", "float16")


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def _dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


class _BnBQuantizer:
    """What the two bitsandbytes quantizers share: freezing and preparing a k-bit model for training."""

    quantized = True

    def bits_per_unquantized_param(self) -> float:
        """Bits per base parameter left unquantized (embeddings, ``lm_head``, norms, biases).

        peft's ``prepare_model_for_kbit_training`` upcasts every 16-bit weight that is not quantized to
        fp32 for numerical stability, so these cost 4 bytes each during training.
        """
        return 32.0

    def prepare_for_training(self, model: Any, gradient_checkpointing: bool) -> Any:
        """Freeze the base, upcast its unquantized weights and enable checkpointing (peft's recipe).

        Then turn off bitsandbytes' CPU weight repacking on every ``Linear4bit``: bitsandbytes 0.50
        repacks a 4-bit weight in place into a CPU-only layout the first time an eval-mode layer sees a
        CPU input on an AVX512-BF16 machine, which breaks training that follows (and sharded buffers).
        ``support_avx512bf16_for_cpu`` is the documented per-module switch; it is only read for CPU inputs.
        """
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
        disable_cpu_weight_repacking(model)
        return model


def disable_cpu_weight_repacking(model: Any) -> int:
    """Set ``support_avx512bf16_for_cpu = False`` on every ``bnb.nn.Linear4bit``; returns how many."""
    import bitsandbytes as bnb

    count = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


@QUANTIZERS.register_module()
class BnB4bit(_BnBQuantizer):
    """QLoRA's frozen 4-bit base: every linear layer except ``lm_head`` stored as 4-bit blocks.

    Args:
        quant_type: ``'nf4'`` (NormalFloat4, the QLoRA data type for normally distributed weights) or
            ``'fp4'``.
        double_quant: also quantize the per-block scales (saves ~0.37 bits per parameter).
        compute_dtype: dtype the 4-bit weights are dequantized to for each matmul; ``'auto'`` uses the
            model's dtype (bf16/fp16 on GPU, fp32 on CPU).
        quant_storage: dtype of the tensor the packed 4-bit values are stored in. ``'auto'`` is ``uint8``,
            or the compute dtype when the strategy flattens and shards parameters (ZeRO-3, FSDP), which
            needs every parameter of one dtype.
    """

    def __init__(
        self,
        quant_type: Literal["nf4", "fp4"] = "nf4",
        double_quant: bool = True,
        compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto",
        quant_storage: Literal["auto", "uint8", "float32", "bfloat16", "float16"] = "auto",
    ) -> None:
        if quant_type not in ("nf4", "fp4"):
            raise ConfigError(f"model.quantizer.quant_type: expected 'nf4' or 'fp4', got {quant_type!r}")
        if compute_dtype != "auto" and compute_dtype not in DTYPE_NAMES:
            raise ConfigError(
                f"model.quantizer.compute_dtype: expected 'auto' or one of {DTYPE_NAMES}, "
                f"got {compute_dtype!r}"
            )
        if quant_storage != "auto" and quant_storage not in STORAGE_NAMES:
            raise ConfigError(
                f"model.quantizer.quant_storage: expected 'auto' or one of {STORAGE_NAMES}, "
                f"got {quant_storage!r}"
            )
        self.quant_type = quant_type
        self.double_quant = double_quant
        self.compute_dtype = compute_dtype
        self.quant_storage = quant_storage

    def bits_per_base_param(self) -> float:
        """4 bits per weight plus the block scales (QLoRA paper, Dettmers et al. 2023, arXiv:2305.14314, §3).

        One fp32 absmax per block of 64 weights costs 32/64 = 0.5 bits. Double quantization stores those
        absmax values as 8-bit numbers (8/64) with one fp32 constant per 256 of them (32/(64*256)):
        4 + 0.125 + 0.002 = 4.127 bits.
        """
        if self.double_quant:
            return 4.0 + 8 / 64 + 32 / (64 * 256)
        return 4.0 + 32 / 64

    def storage_dtype(self, compute_dtype: Any, shards_params: bool = False) -> str:
        """The resolved ``quant_storage`` name for a run with this compute dtype and strategy."""
        if self.quant_storage != "auto":
            return self.quant_storage
        return self._compute_name(compute_dtype) if shards_params else "uint8"

    def _compute_name(self, compute_dtype: Any) -> str:
        return self.compute_dtype if self.compute_dtype != "auto" else _dtype_name(compute_dtype)

    def hf_quantization_config(self, compute_dtype: Any, shards_params: bool = False) -> Any:
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=self.quant_type,
            bnb_4bit_use_double_quant=self.double_quant,
            bnb_4bit_compute_dtype=_torch_dtype(self._compute_name(compute_dtype)),
            bnb_4bit_quant_storage=_torch_dtype(self.storage_dtype(compute_dtype, shards_params)),
        )


@QUANTIZERS.register_module()
class BnB8bit(_BnBQuantizer):
    """A frozen 8-bit base (LLM.int8()): every linear layer except ``lm_head`` stored as int8 rows.

    Args:
        threshold: activation magnitude above which a feature is an outlier and multiplied in 16-bit
            (LLM.int8()'s mixed-precision decomposition; 6.0 is the paper's value).
    """

    def __init__(self, threshold: float = 6.0) -> None:
        if threshold < 0:
            raise ConfigError(f"model.quantizer.threshold must be >= 0, got {threshold}")
        self.threshold = float(threshold)

    def bits_per_base_param(self, in_features: int = 4096) -> float:
        """8 bits per weight plus one fp32 absmax per output row of ``in_features`` weights.

        LLM.int8() (Dettmers et al. 2022, arXiv:2208.07339, §3.2) quantizes vector-wise: bitsandbytes
        keeps one fp32 scale (``SCB``) per row, i.e. 32/in_features bits (8.008 for a 4096-wide layer).
        """
        return 8.0 + 32 / in_features

    def hf_quantization_config(self, compute_dtype: Any, shards_params: bool = False) -> Any:
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=self.threshold)
