"""`make demo`'s acceptance: the loss falls >= 30%, and the exported adapter loads in plain peft and helps."""

from __future__ import annotations

import json

import pytest
import torch

from xtune.engine.logs import losses_by_iter


def _heldout_loss(model, tokenizer, rows: list[dict]) -> float:
    """Mean loss on the replies of held-out rows, rendered with the tokenizer's own chat template."""
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in rows:
            user = {"role": "user", "content": f"{row['instruction']}\n{row['input']}"}
            prompt = tokenizer.apply_chat_template([user], tokenize=False, add_generation_prompt=True)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            reply_ids = tokenizer(row["output"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
            input_ids = torch.tensor([prompt_ids + reply_ids])
            labels = torch.tensor([[-100] * len(prompt_ids) + reply_ids])
            loss = model(input_ids=input_ids, labels=labels).loss
            total += float(loss) * len(reply_ids)
            count += len(reply_ids)
    return total / count


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
    base_loss = _heldout_loss(base, tiny_tokenizer, rows)

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), export)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)
    tuned_loss = _heldout_loss(model, tiny_tokenizer, rows)
    assert tuned_loss < 0.6 * base_loss, (base_loss, tuned_loss)
