"""Tokenize a conversation with the tokenizer's own chat template and mask everything but the replies."""

from __future__ import annotations

from typing import Any

IGNORE_INDEX = -100


def _render(tokenizer: Any, messages: list[dict], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def encode_messages(tokenizer: Any, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Return ``(input_ids, labels)`` where labels are ``-100`` except on assistant replies.

    The conversation is rendered prefix by prefix with the tokenizer's own template, so the text
    trained on is exactly what the model will see when served. An assistant turn's span is the text
    the template adds for it after the generation prompt, which includes its end-of-turn token.
    """
    input_ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    for index, message in enumerate(messages):
        if message["role"] == "assistant":
            prompt = _render(tokenizer, messages[:index], add_generation_prompt=True)
            _append(tokenizer, prompt[len(rendered) :], False, input_ids, labels)
            rendered = prompt
        full = _render(tokenizer, messages[: index + 1])
        _append(tokenizer, full[len(rendered) :], message["role"] == "assistant", input_ids, labels)
        rendered = full
    return input_ids, labels


def _append(tokenizer: Any, text: str, trained: bool, input_ids: list[int], labels: list[int]) -> None:
    if not text:
        return
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    input_ids.extend(ids)
    labels.extend(ids if trained else [IGNORE_INDEX] * len(ids))
