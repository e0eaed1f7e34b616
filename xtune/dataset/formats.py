"""Row formats → OpenAI-style ``messages`` lists."""

from __future__ import annotations

from xtune.registry import DATA_FORMATS


@DATA_FORMATS.register_module(name="alpaca")
def alpaca_to_messages(row: dict) -> list[dict]:
    """``instruction`` / ``input`` / ``output`` → user + assistant turns (``system`` if present)."""
    prompt = row["instruction"] if not row.get("input") else f"{row['instruction']}\n{row['input']}"
    messages = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return messages + [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
