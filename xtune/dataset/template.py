"""Chat templates and exact label masking.

A conversation is rendered with the tokenizer's own ``chat_template`` (the jinja the model is served
with), or with a registered fallback from ``CHAT_TEMPLATES`` for tokenizers that ship none. The whole
text is tokenized in one call, so the ids are exactly what serving produces; a token is trained when it
starts inside an assistant turn's span. A turn's span is the text the template adds for that reply after
the generation prompt (``render(msgs[:i], add_generation_prompt=True)`` → ``render(msgs[:i+1])``), with
trailing whitespace cut off: it covers the reply and its end-of-turn token (``<|im_end|>``), not the
newline the template puts between turns.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from xtune.dataset.formats import RowError
from xtune.errors import DataError
from xtune.registry import CHAT_TEMPLATES

IGNORE_INDEX = -100

# Plain ChatML (no default system prompt).
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@CHAT_TEMPLATES.register_module(name="chatml")
def chatml() -> str:
    """ChatML without a default system prompt."""
    return CHATML


@CHAT_TEMPLATES.register_module(name="qwen")
def qwen() -> str:
    """Qwen1.5/Qwen2's ChatML: adds ``You are a helpful assistant.`` when there is no system turn."""
    from xtune.testing.tiny import CHATML_TEMPLATE

    return CHATML_TEMPLATE


def resolve_chat_template(tokenizer: Any, chat_template: str | None) -> str:
    """The jinja to render with: ``chat_template`` (a registered name or jinja), else the tokenizer's own.

    A tokenizer without a template falls back to ``qwen`` when it has ChatML's ``<|im_start|>`` token;
    otherwise the user must name one (the error lists the registered templates).
    """
    if chat_template:
        if "{%" in chat_template or "{{" in chat_template:
            return chat_template
        factory = CHAT_TEMPLATES.get(chat_template)
        if factory is None:
            known = ", ".join(sorted(CHAT_TEMPLATES.module_dict))
            raise DataError(f"chat_template: unknown template {chat_template!r}; registered: {known}")
        return factory()
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, str) and own:
        return own
    if "<|im_start|>" in tokenizer.get_vocab():
        return qwen()
    known = ", ".join(sorted(CHAT_TEMPLATES.module_dict))
    raise DataError(
        f"the tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no chat_template; set the dataset's "
        f"`chat_template` to one of {known} (or to a jinja string)"
    )


def render_with_spans(
    tokenizer: Any, template: str, messages: list[dict]
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the ``[start, end)`` character span of every assistant turn."""

    def render(turns: list[dict], generation: bool) -> str:
        return tokenizer.apply_chat_template(
            turns, chat_template=template, tokenize=False, add_generation_prompt=generation
        )

    full = render(messages, False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(messages[:index], True)
        upto = render(messages[: index + 1], False)
        if not (upto.startswith(prompt) and full.startswith(upto)):
            raise RowError(
                f"messages[{index}]",
                "the chat template does not render this conversation as a sequence of turns (the text "
                "up to this reply is not a prefix of the whole), so its reply cannot be located exactly",
            )
        end = len(upto.rstrip())
        if end > len(prompt):
            spans.append((len(prompt), end))
    return full, spans


def labels_for(
    input_ids: Sequence[int], offsets: Sequence[tuple[int, int]], spans: list[tuple[int, int]]
) -> list[int]:
    """``input_ids`` where the token starts inside a span, ``-100`` elsewhere."""
    labels = [IGNORE_INDEX] * len(input_ids)
    starts = [start for start, _ in offsets]
    for begin, end in spans:
        first, last = bisect_left(starts, begin), bisect_left(starts, end)
        labels[first:last] = input_ids[first:last]
    return labels


def encode_batch(tokenizer: Any, template: str, samples: list[dict]) -> list[tuple[list[int], list[int]]]:
    """Tokenize converted samples in one fast-tokenizer call: ``[(input_ids, labels), ...]``.

    ``{'messages': ...}`` samples train on assistant spans only; ``{'text': ...}`` samples train on every
    token and end with the tokenizer's EOS. The first label is always ``-100`` (no token predicts it), so
    a sample packed after another never learns across the boundary.
    """
    if not samples:
        return []
    texts, spans = [], []
    eos = tokenizer.eos_token or ""
    for sample in samples:
        if "messages" in sample:
            text, sample_spans = render_with_spans(tokenizer, template, sample["messages"])
        else:
            text = sample["text"] + eos
            sample_spans = [(0, len(text))]
        texts.append(text)
        spans.append(sample_spans)
    encoded = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for ids, offsets, sample_spans in zip(encoded["input_ids"], encoded["offset_mapping"], spans):
        labels = labels_for(ids, offsets, sample_spans)
        if labels:
            labels[0] = IGNORE_INDEX
        out.append((ids, labels))
    return out


def encode_messages(
    tokenizer: Any, messages: list[dict], chat_template: str | None = None
) -> tuple[list[int], list[int]]:
    """One conversation → ``(input_ids, labels)`` with only assistant replies trained."""
    template = resolve_chat_template(tokenizer, chat_template)
    return encode_batch(tokenizer, template, [{"messages": messages}])[0]
