"""Held-out measures used by tests and docs to show an adapter learned something."""

from __future__ import annotations

from typing import Any


def reply_loss(model: Any, tokenizer: Any, rows: list[dict]) -> float:
    """Mean loss on the reply tokens (with ``<|im_end|>``) of alpaca ``rows``, rendered with the chat template.

    Independent of xtune's data pipeline on purpose: it cross-checks what training optimised.
    """
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in rows:
            prompt_text = f"{row['instruction']}\n{row['input']}" if row.get("input") else row["instruction"]
            user = {"role": "user", "content": prompt_text}
            prompt = tokenizer.apply_chat_template([user], tokenize=False, add_generation_prompt=True)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            reply_ids = tokenizer(row["output"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
            device = next(model.parameters()).device
            input_ids = torch.tensor([prompt_ids + reply_ids], device=device)
            labels = torch.tensor([[-100] * len(prompt_ids) + reply_ids], device=device)
            total += float(model(input_ids=input_ids, labels=labels).loss) * len(reply_ids)
            count += len(reply_ids)
    return total / count
