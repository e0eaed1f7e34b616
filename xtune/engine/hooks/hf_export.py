"""Export the trained model in Hugging Face format at the end of training."""

from __future__ import annotations

import os

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from xtune.registry import HOOKS


@HOOKS.register_module()
class HFExportHook(Hook):
    """Write ``WORK_DIR/<out_dir>``: a PEFT adapter (+ tokenizer) for LoRA/QLoRA, a full model otherwise.

    The adapter loads with ``peft.PeftModel.from_pretrained(base, dir)``, a full model with
    ``AutoModelForCausalLM.from_pretrained(dir)``. Weights are safetensors.
    """

    priority = "LOWEST"

    def __init__(self, out_dir: str = "hf") -> None:
        self.out_dir = out_dir

    def after_run(self, runner) -> None:
        from xtune.engine.checkpoint import stop_signal

        if stop_signal(runner) is not None:  # preempted: exit fast, export later
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state_dict = gathered_state_dict(runner.model, model)  # collective under ZeRO-3: every rank
        if not is_main_process():
            return
        target = os.path.join(runner.work_dir, self.out_dir)
        export_hf(model, target, state_dict=state_dict)
        runner.logger.info(f"Hugging Face export written to {target}")


def gathered_state_dict(runner_model, model) -> dict | None:
    """``model.llm``'s weights gathered from their ZeRO-3 shards (on rank 0; None elsewhere).

    None when parameters are not partitioned (the model's own tensors are then whole). Under ZeRO-3 each
    rank holds a slice of every weight, so saving ``model.llm`` directly would write empty tensors;
    DeepSpeed's consolidation gathers one layer at a time onto rank 0 (CPU). Frozen weights are left
    out for adapters, whose export needs only the trained ones.
    """
    from xtune.strategy.deepspeed_engine import is_zero3

    if not is_zero3(runner_model):
        return None
    engine = runner_model.model
    trains_base = bool(getattr(getattr(model, "adapter", None), "trains_base", True))
    full = engine._zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=not trains_base)
    if full is None:
        return None
    return {k.removeprefix("llm."): v for k, v in full.items() if k.startswith("llm.")}


def export_hf(model, target: str, state_dict: dict | None = None) -> None:
    """Save ``model.llm`` (adapter or full weights) and the tokenizer of ``model.path`` to ``target``.

    ``state_dict`` (keys of ``model.llm.state_dict()``) replaces the model's own tensors, e.g. weights
    gathered from ZeRO-3 shards.
    """
    from xtune.dataset.sft import load_tokenizer

    os.makedirs(target, exist_ok=True)
    kwargs = {} if state_dict is None else {"state_dict": state_dict}
    if hasattr(model.llm, "peft_config"):
        # xtune never resizes the vocabulary, so the frozen embeddings/head need not travel with the
        # adapter (peft would otherwise copy them whenever lm_head carries a LoRA: ~1.5 GB on 14B).
        kwargs["save_embedding_layers"] = False
    model.llm.save_pretrained(target, safe_serialization=True, **kwargs)
    load_tokenizer(model.path).save_pretrained(target)
