"""Format converters, auto-detection and the row errors they raise."""

from __future__ import annotations

import pytest

from xtune.dataset.formats import (
    Alpaca,
    OpenAIMessages,
    PlainText,
    RowError,
    ShareGPT,
    build_format,
    detect_format,
)
from xtune.errors import DataError


def test_alpaca_with_input_and_system():
    row = {"system": "S", "instruction": "Do it.", "input": "x y", "output": "done"}
    assert Alpaca()(row)["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Do it.\nx y"},
        {"role": "assistant", "content": "done"},
    ]
    assert (
        Alpaca()({"instruction": "Do it.", "input": None, "output": "ok"})["messages"][0]["content"]
        == "Do it."
    )


def test_openai_and_sharegpt_agree():
    openai = {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "u"},
                           {"role": "assistant", "content": "a"}]}  # fmt: skip
    sharegpt = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "u"},
                                  {"from": "gpt", "value": "a"}]}  # fmt: skip
    assert OpenAIMessages()(openai) == ShareGPT()(sharegpt)


def test_sharegpt_custom_roles_via_registry():
    converter = build_format(dict(type="sharegpt", roles={"bot": "assistant"}))
    row = {"conversations": [{"from": "human", "value": "hi"}, {"from": "bot", "value": "hello"}]}
    assert converter(row)["messages"][1] == {"role": "assistant", "content": "hello"}


def test_plain_text():
    assert PlainText()({"text": "hello"}) == {"text": "hello"}
    with pytest.raises(RowError, match="text: empty text"):
        PlainText()({"text": "  "})


@pytest.mark.parametrize(
    ("converter", "row", "field", "message"),
    [
        (Alpaca(), {"instruction": "x"}, "output", "missing required field"),
        (Alpaca(), {"instruction": 3, "output": "y"}, "instruction", "expected a string"),
        (OpenAIMessages(), {"messages": []}, "messages", "empty conversation"),
        (
            OpenAIMessages(),
            {"messages": [{"role": "bot", "content": "x"}]},
            "messages[0].role",
            "unknown role 'bot'",
        ),
        (OpenAIMessages(), {"messages": [{"role": "user"}]}, "messages[0].content", "missing required field"),
        (OpenAIMessages(), {"messages": [{"role": "user", "content": "x"}]}, "messages", "no assistant turn"),
        (
            ShareGPT(),
            {"conversations": [{"from": "robot", "value": "x"}]},
            "conversations[0].from",
            "unknown speaker",
        ),
        (ShareGPT(), {"conversations": None}, "conversations", "missing required field"),
    ],
)
def test_row_errors_name_the_field(converter, row, field, message):
    with pytest.raises(RowError) as info:
        converter(row)
    assert info.value.field == field
    assert message in info.value.message


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"instruction", "input", "output"}, "alpaca"),
        ({"messages"}, "openai"),
        ({"messages", "id"}, "openai"),
        ({"conversations", "id"}, "sharegpt"),
        ({"text"}, "text"),
    ],
)
def test_detect_format(columns, expected):
    assert detect_format(columns, "data.jsonl") == expected


def test_detect_format_refuses_to_guess():
    with pytest.raises(DataError, match="cannot tell the data format .*question.*set `format=`"):
        detect_format({"question", "answer"}, "data.jsonl")
    with pytest.raises(DataError, match="several formats"):
        detect_format({"messages", "conversations"}, "data.jsonl")


def test_unknown_format_lists_the_registered_ones():
    with pytest.raises(DataError, match="unknown format 'alpacca'.*alpaca.*sharegpt"):
        build_format("alpacca")
