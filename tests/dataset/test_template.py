"""Chat templates and label masking: trained spans decode to exactly the assistant replies."""

from __future__ import annotations

import pytest

from xtune.dataset.template import IGNORE_INDEX, encode_batch, encode_messages, resolve_chat_template
from xtune.errors import DataError

MULTI_TURN = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Reverse the letters.\na b c"},
    {"role": "assistant", "content": "c b a"},
    {"role": "user", "content": "Add the numbers.\n 12 + 30"},
    {"role": "assistant", "content": " 42, with a leading space"},
    {"role": "user", "content": "Anything else?"},
    {"role": "assistant", "content": "Line one.\n\nLine two: héllo ✓ end "},
]


@pytest.fixture(scope="module")
def qwen_tokenizer():
    from xtune.testing.qwen_tokenizer import load_qwen_tokenizer

    return load_qwen_tokenizer()


def trained_spans(tokenizer, ids: list[int], labels: list[int]) -> list[str]:
    """Decode every maximal run of trained (non -100) labels."""
    spans, run = [], []
    for token, label in zip(ids, labels):
        if label != IGNORE_INDEX:
            assert label == token
            run.append(token)
        elif run:
            spans.append(tokenizer.decode(run))
            run = []
    if run:
        spans.append(tokenizer.decode(run))
    return spans


@pytest.mark.parametrize("which", ["tiny", "qwen"])
def test_multi_turn_trains_exactly_every_reply_and_its_end_token(which, tiny_tokenizer, request):
    tokenizer = tiny_tokenizer if which == "tiny" else request.getfixturevalue("qwen_tokenizer")
    ids, labels = encode_messages(tokenizer, MULTI_TURN)
    replies = [m["content"] + "<|im_end|>" for m in MULTI_TURN if m["role"] == "assistant"]
    assert trained_spans(tokenizer, ids, labels) == replies
    # Training matches serving: the ids are the tokenization of the template's whole rendering.
    served = tokenizer.apply_chat_template(MULTI_TURN, tokenize=False)
    assert ids == tokenizer(served, add_special_tokens=False)["input_ids"]
    # Everything untrained is prompt: system and user turns, role headers and the newline after <|im_end|>.
    untrained = tokenizer.decode([t for t, label in zip(ids, labels) if label == IGNORE_INDEX])
    assert "You are terse." in untrained and "Anything else?" in untrained
    assert "c b a" not in untrained


def test_plain_text_trains_every_token_but_the_first(tiny_tokenizer):
    template = resolve_chat_template(tiny_tokenizer, None)
    [(ids, labels)] = encode_batch(tiny_tokenizer, template, [{"text": "a b c d"}])
    assert tiny_tokenizer.decode(ids) == "a b c d" + tiny_tokenizer.eos_token
    assert labels[0] == IGNORE_INDEX and labels[1:] == ids[1:]


def test_batch_equals_one_by_one(tiny_tokenizer):
    template = resolve_chat_template(tiny_tokenizer, None)
    samples = [{"messages": MULTI_TURN}, {"text": "x y"}, {"messages": MULTI_TURN[1:3]}]
    assert encode_batch(tiny_tokenizer, template, samples) == [
        encode_batch(tiny_tokenizer, template, [s])[0] for s in samples
    ]


def test_registered_fallback_template_and_jinja_string(tiny_tokenizer):
    chatml = resolve_chat_template(tiny_tokenizer, "chatml")
    ids, labels = encode_messages(tiny_tokenizer, MULTI_TURN[1:3], chat_template="chatml")
    text = tiny_tokenizer.decode(ids)
    assert text.startswith("<|im_start|>user") and "You are a helpful assistant" not in text
    assert trained_spans(tiny_tokenizer, ids, labels) == ["c b a<|im_end|>"]
    assert resolve_chat_template(tiny_tokenizer, chatml) == chatml  # a jinja string is used as is
    with pytest.raises(DataError, match="unknown template 'chatlm'.*chatml"):
        resolve_chat_template(tiny_tokenizer, "chatlm")


def test_tokenizer_without_template(tiny_tokenizer):
    bare = tiny_tokenizer.__class__.from_pretrained(tiny_tokenizer.name_or_path)
    bare.chat_template = None
    # ChatML specials in the vocabulary: Qwen's template is the fallback.
    assert resolve_chat_template(bare, None) == resolve_chat_template(tiny_tokenizer, "qwen")


def test_tokenizer_without_template_or_chatml_must_name_one(tiny_tokenizer, monkeypatch):
    bare = tiny_tokenizer.__class__.from_pretrained(tiny_tokenizer.name_or_path)
    bare.chat_template = None
    monkeypatch.setattr(bare, "get_vocab", lambda: {"a": 0})
    with pytest.raises(DataError, match="has no chat_template; set the dataset's `chat_template`"):
        resolve_chat_template(bare, None)
