"""Chat generation shared by ``xtune chat`` and :class:`EvaluateChatHook`: the tokenizer's own chat
template, and stopping at the template's end-of-turn token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_PROBE = "XTUNE-PROBE-7f3a"


@dataclass
class Reply:
    """A generated reply: its text, how many tokens it took, and whether it ended at a stop token."""

    text: str
    new_tokens: int
    stopped: bool


def end_of_turn_id(tokenizer: Any) -> int | None:
    """The special token the chat template closes an assistant turn with (``<|im_end|>`` for Qwen).

    Found by rendering a probe reply with the template and reading the first special token after it,
    so it works for any template (ChatML, Llama-3's ``<|eot_id|>``, ...). None without a template.
    """
    if not getattr(tokenizer, "chat_template", None):
        return None
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _PROBE}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # templates that reject this exchange: fall back to eos ids only
        return None
    if _PROBE not in text:
        return None
    tail = text[text.rindex(_PROBE) + len(_PROBE) :]
    special = set(tokenizer.all_special_ids)
    special |= {i for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if t.special}
    for token_id in tokenizer(tail, add_special_tokens=False)["input_ids"]:
        if token_id in special:
            return int(token_id)
    return None


def stop_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """Every id that ends a reply: the generation config's eos ids, the tokenizer's eos, end-of-turn."""
    ids: list[int] = []
    eos = getattr(generation_config, "eos_token_id", None)
    for value in [*(eos if isinstance(eos, (list, tuple)) else [eos]), tokenizer.eos_token_id,
                  end_of_turn_id(tokenizer)]:  # fmt: skip
        if value is not None and int(value) not in ids:
            ids.append(int(value))
    return ids


def build_messages(prompt: str, system: str | None = None, history: list[dict] | None = None) -> list[dict]:
    """``[system?] + history + user(prompt)`` as chat-template messages."""
    messages = [{"role": "system", "content": system}] if system else []
    return messages + list(history or []) + [{"role": "user", "content": prompt}]


def prompt_ids(tokenizer: Any, messages: list[dict]) -> list[int]:
    """Token ids of ``messages`` plus the assistant generation prompt, rendered by the chat template
    (plain concatenated text for tokenizers without one, e.g. base models)."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer("\n".join(m["content"] for m in messages))["input_ids"]


def generate_reply(
    model: Any,
    tokenizer: Any,
    messages: list[dict],
    max_new_tokens: int = 256,
    stop_ids: list[int] | None = None,
    streamer: Any = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    synced_gpus: bool = False,
) -> Reply:
    """Generate the assistant's reply to ``messages`` (greedy unless ``temperature > 0``).

    Stops at any of ``stop_ids`` (default: :func:`stop_token_ids`) or after ``max_new_tokens``. The model
    is put in eval mode with the KV cache on for the call and restored afterwards.
    """
    import torch

    if stop_ids is None:
        stop_ids = stop_token_ids(tokenizer, getattr(model, "generation_config", None))
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids(tokenizer, messages)], device=device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stop_ids or [0])[0]
    sampling = (
        dict(do_sample=True, temperature=temperature, top_p=top_p)
        if temperature > 0
        else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                eos_token_id=stop_ids or None,
                pad_token_id=pad,
                use_cache=True,
                streamer=streamer,
                synced_gpus=synced_gpus,
                **sampling,
            )
    finally:
        model.train(was_training)
    new = out[0, ids.shape[1] :].tolist()
    stopped = bool(new) and new[-1] in stop_ids
    if stopped:
        new = new[:-1]
    return Reply(tokenizer.decode(new, skip_special_tokens=True), len(new) + int(stopped), stopped)
