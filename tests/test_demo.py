"""`make demo`'s acceptance: the loss falls >= 30%, and the exported adapter loads in plain peft and helps."""

from __future__ import annotations

import json

import pytest

from xtune.engine.logs import losses_by_iter
from xtune.testing.metrics import reply_loss


@pytest.mark.slow
def test_demo_trains_and_exports_a_working_adapter(repo, train, tmp_path, tiny_model_dir, tiny_tokenizer):
    code, work_dir = train(repo / "configs/demo/tiny_qwen_lora.py", work_dir=tmp_path / "demo")
    assert code == 0

    losses = losses_by_iter(work_dir)
    first, last = losses[min(losses)], losses[max(losses)]
    assert last <= 0.7 * first, (first, last)

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    export = work_dir / "hf"
    assert (export / "adapter_config.json").is_file() and (export / "adapter_model.safetensors").is_file()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    rows = [json.loads(line) for line in (repo / "data/demo/eval.jsonl").read_text().splitlines()][:32]
    base_loss = reply_loss(base, tiny_tokenizer, rows)

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), export)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)
    tuned_loss = reply_loss(model, tiny_tokenizer, rows)
    assert tuned_loss < 0.6 * base_loss, (base_loss, tuned_loss)
