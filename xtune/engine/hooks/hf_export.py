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

        if not is_main_process() or stop_signal(runner) is not None:  # preempted: exit fast, export later
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        target = os.path.join(runner.work_dir, self.out_dir)
        export_hf(model, target)
        runner.logger.info(f"Hugging Face export written to {target}")


def export_hf(model, target: str) -> None:
    """Save ``model.llm`` (adapter or full weights) and the tokenizer of ``model.path`` to ``target``."""
    from xtune.dataset.sft import load_tokenizer

    os.makedirs(target, exist_ok=True)
    model.llm.save_pretrained(target, safe_serialization=True)
    load_tokenizer(model.path).save_pretrained(target)
