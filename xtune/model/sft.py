"""``SupervisedFinetune``: an mmengine ``BaseModel`` that loads a HF causal LM, quantizes and adapts it."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from mmengine.model import BaseModel

from xtune.registry import ADAPTERS, LOSSES, MODELS, QUANTIZERS

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}  # fmt: skip


def resolve_dtype(dtype: str, trains_base: bool) -> torch.dtype:
    """``'auto'``: fp32 on CPU or when the base trains (AMP keeps fp32 master weights); bf16 on GPU."""
    if dtype != "auto":
        return DTYPES[dtype]
    if trains_base or not torch.cuda.is_available():
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _build(registry, cfg: Any, default: dict | None = None) -> Any:
    cfg = default if cfg is None else cfg
    return registry.build(dict(cfg)) if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class SupervisedFinetune(BaseModel):
    """A causal LM fine-tuned on (prompt, response) tokens with the prompt masked from the loss.

    Args:
        path: local model directory, hub id, or ``embedded:tiny-qwen2``.
        quantizer: a QUANTIZERS config (default: no quantization).
        adapter: an ADAPTERS config (default: LoRA).
        loss: a LOSSES config (default: ``CrossEntropy``).
        dtype: ``'auto'`` or a torch dtype name for the loaded weights.
        gradient_checkpointing: recompute activations in backward; ``None`` means on for quantized bases.
        compile: ``torch.compile`` each decoder layer (True, or a dict of ``torch.compile`` kwargs such
            as ``dict(mode='max-autotune')``); off by default: compiling costs minutes up front.
        attn_implementation: ``'auto'`` (default): ``flash_attention_2`` when flash-attn is installed
            and the model runs in 16-bit on a GPU, else transformers' pick (``sdpa``); or any name
            transformers accepts (``'sdpa'``, ``'eager'``, ...); ``None`` lets transformers pick.
        trust_remote_code: run code shipped with the checkpoint (off unless you ask).
        revision: a hub revision to pin.
        shards_params: the strategy flattens and shards parameters (ZeRO-3); set by the engine.
        device_map: a ``from_pretrained`` device map (layer-wise model parallel); set by the engine.
    """

    def __init__(
        self,
        path: str,
        quantizer: dict | None = None,
        adapter: dict | None = None,
        loss: dict | None = None,
        dtype: str = "auto",
        gradient_checkpointing: bool | None = None,
        compile: bool | dict = False,
        attn_implementation: str | None = "auto",
        trust_remote_code: bool = False,
        revision: str | None = None,
        shards_params: bool = False,
        device_map: dict | str | None = None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        from xtune.model.loading import load_causal_lm

        self.quantizer = _build(QUANTIZERS, quantizer, dict(type="NoQuant"))
        self.adapter = _build(ADAPTERS, adapter, dict(type="LoRA"))
        self.loss_fn = _build(LOSSES, loss, dict(type="CrossEntropy"))
        self.path = path
        if gradient_checkpointing is None:
            gradient_checkpointing = bool(self.quantizer.quantized)
        self.llm = load_causal_lm(
            path,
            quantizer=self.quantizer,
            adapter=self.adapter,
            dtype=resolve_dtype(dtype, self.adapter.trains_base),
            gradient_checkpointing=gradient_checkpointing,
            attn_implementation=attn_implementation,
            trust_remote_code=trust_remote_code,
            revision=revision,
            shards_params=shards_params,
            device_map=device_map,
        )
        if compile:
            from xtune.model.loading import compile_layers

            compile_layers(self.llm, compile)
        if not self.adapter.trains_base:
            self._register_frozen_filter()

    # -- forward ---------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        mode: str = "loss",
        **extra: Any,
    ) -> dict[str, torch.Tensor] | torch.Tensor:
        """``mode='loss'`` → ``{'loss': ...}``; ``'predict'``/``'tensor'`` → logits."""
        base = self.hf_model()
        decoder = base.get_decoder()
        hidden = decoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
            **extra,
        ).last_hidden_state
        head = base.get_output_embeddings()
        if mode == "loss":
            if labels is None:
                raise ValueError("mode='loss' needs labels")
            return {"loss": self.loss_fn(hidden, head, labels)}
        return head(hidden)

    def init_weights(self) -> None:
        """Nothing to initialise: the base comes from the checkpoint and peft initialises the adapters.

        mmengine's Runner calls ``init_weights`` before training; the default would recurse into
        transformers' ``initialize_weights``, which re-draws peft's LoRA matrices (``lora_B`` no longer
        zero, so the adapter perturbs the model at step 0) and fails on 4-bit weights (``mean()`` of uint8).
        """

    def train(self, mode: bool = True) -> SupervisedFinetune:
        """Set train/eval mode; a no-op when every module already is in ``mode``.

        mmengine's train loop calls ``model.train()`` before every iteration; re-setting the flag on
        each of a model's hundreds of modules costs ~0.5 ms a step, this check a fifth of it (a plain
        walk over ``_modules``: ``self.modules()`` would build every module's dotted name).
        """
        stack: list[torch.nn.Module] = [self]
        while stack:
            module = stack.pop()
            if module.training != mode:
                return super().train(mode)
            stack.extend(child for child in module._modules.values() if child is not None)
        return self

    def hf_model(self) -> Any:
        """The underlying ``transformers`` model (inside the peft wrapper when there is one)."""
        return self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm

    # -- checkpoints -----------------------------------------------------------------------------------
    def state_dict(self, *args: Any, destination=None, prefix: str = "", keep_vars: bool = False):
        """Only trainable weights when the base is frozen (LoRA/QLoRA): checkpoints stay adapter-sized."""
        full = super().state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)
        if self.adapter.trains_base:
            return full
        trainable = {prefix + n for n, p in self.named_parameters() if p.requires_grad}
        return OrderedDict((k, v) for k, v in full.items() if k in trainable)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load a (possibly trainable-only) state dict; frozen base weights come from ``path``."""
        if not self.adapter.trains_base:
            strict = False
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _register_frozen_filter(self) -> None:
        """Drop frozen base weights from the missing-keys report when loading an adapter-only checkpoint."""
        frozen = {n for n, p in self.named_parameters() if not p.requires_grad}
        frozen |= {n for n, _ in self.named_buffers()}

        def hook(module, incompatible):
            incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if k not in frozen]

        self.register_load_state_dict_post_hook(hook)
