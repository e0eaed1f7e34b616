"""Row formats: converters from a dataset row to a sample (``messages`` to chat on, or ``text`` to continue).

Each format is registered in ``DATA_FORMATS`` under a name a config can use (``format='sharegpt'``). A
converter is a callable object: ``convert(row) -> {'messages': [...]}`` or ``{'text': ...}``; it raises
:class:`RowError` naming the field when a row is unusable. ``detect(columns)`` says whether a dataset with
these columns is unambiguously in this format, which drives ``format='auto'``. Add your own::

    from xtune.dataset.formats import RowError
    from xtune.registry import DATA_FORMATS

    @DATA_FORMATS.register_module(name='qa')
    class QA:
        @staticmethod
        def detect(columns): return {'question', 'answer'} <= columns
        def __call__(self, row):
            return {'messages': [{'role': 'user', 'content': row['question']},
                                 {'role': 'assistant', 'content': row['answer']}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xtune.errors import DataError
from xtune.registry import DATA_FORMATS

ROLES = ("system", "user", "assistant", "tool")


class RowError(Exception):
    """A row cannot be converted: ``field`` is the offending key path (``messages[2].role``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(row: Mapping, key: str, field: str | None = None, required: bool = True) -> str:
    value = row.get(key) if isinstance(row, Mapping) else None
    if value is None:
        if required:
            raise RowError(field or key, "missing required field")
        return ""
    if not isinstance(value, str):
        raise RowError(field or key, f"expected a string, got {type(value).__name__}")
    return value


def check_conversation(messages: list[dict], field: str) -> list[dict]:
    """Raise :class:`RowError` for an empty conversation, an unknown role, or one without an assistant turn."""
    if not messages:
        raise RowError(field, "empty conversation")
    for index, message in enumerate(messages):
        if message["role"] not in ROLES:
            raise RowError(
                f"{field}[{index}].role",
                f"unknown role {message['role']!r}; expected one of {', '.join(ROLES)}",
            )
    if not any(m["role"] == "assistant" for m in messages):
        raise RowError(field, "no assistant turn, so nothing to train on")
    return messages


@DATA_FORMATS.register_module(name="alpaca")
class Alpaca:
    """``instruction`` / ``input`` (optional) / ``output``, optional ``system``: one user turn, one reply."""

    @staticmethod
    def detect(columns: set[str]) -> bool:
        return {"instruction", "output"} <= columns

    def __call__(self, row: Mapping) -> dict:
        instruction = _text(row, "instruction")
        extra = _text(row, "input", required=False)
        output = _text(row, "output")
        system = _text(row, "system", required=False)
        prompt = f"{instruction}\n{extra}" if extra else instruction
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
        return {"messages": messages}


@DATA_FORMATS.register_module(name=["openai", "messages"])
class OpenAIMessages:
    """OpenAI chat format: ``messages: [{role, content}, ...]`` with system prompts and many turns."""

    @staticmethod
    def detect(columns: set[str]) -> bool:
        return "messages" in columns

    def __call__(self, row: Mapping) -> dict:
        turns = row.get("messages")
        if turns is None:
            raise RowError("messages", "missing required field")
        if not isinstance(turns, list):
            raise RowError("messages", f"expected a list of {{role, content}}, got {type(turns).__name__}")
        messages = []
        for index, turn in enumerate(turns):
            role = _text(turn, "role", f"messages[{index}].role")
            content = _text(turn, "content", f"messages[{index}].content")
            messages.append({"role": role, "content": content})
        return {"messages": check_conversation(messages, "messages")}


@DATA_FORMATS.register_module(name="sharegpt")
class ShareGPT:
    """ShareGPT: ``conversations: [{from, value}, ...]``; ``from`` is human/gpt/system (or user/assistant).

    Args:
        roles: extra ``from`` → role mappings, e.g. ``{'bot': 'assistant'}``.
    """

    ROLE_MAP = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                "chatgpt": "assistant", "system": "system", "tool": "tool", "function": "tool",
                "observation": "tool"}  # fmt: skip

    def __init__(self, roles: dict | None = None) -> None:
        self.role_map = {**self.ROLE_MAP, **(roles or {})}

    @staticmethod
    def detect(columns: set[str]) -> bool:
        return "conversations" in columns

    def __call__(self, row: Mapping) -> dict:
        turns = row.get("conversations")
        if turns is None:
            raise RowError("conversations", "missing required field")
        if not isinstance(turns, list):
            raise RowError("conversations", f"expected a list of {{from, value}}, got {type(turns).__name__}")
        messages = []
        for index, turn in enumerate(turns):
            speaker = _text(turn, "from", f"conversations[{index}].from")
            if speaker not in self.role_map:
                known = ", ".join(sorted(self.role_map))
                raise RowError(
                    f"conversations[{index}].from",
                    f"unknown speaker {speaker!r}; expected one of {known} (map it with format=dict("
                    f"type='sharegpt', roles={{{speaker!r}: 'assistant'}}))",
                )
            content = _text(turn, "value", f"conversations[{index}].value")
            messages.append({"role": self.role_map[speaker], "content": content})
        return {"messages": check_conversation(messages, "conversations")}


@DATA_FORMATS.register_module(name="text")
class PlainText:
    """Continued pre-training: every token of ``text`` is trained, and the tokenizer's EOS is appended.

    Args:
        field: the column holding the text.
    """

    def __init__(self, field: str = "text") -> None:
        self.field = field

    @staticmethod
    def detect(columns: set[str]) -> bool:
        return columns == {"text"}

    def __call__(self, row: Mapping) -> dict:
        text = _text(row, self.field)
        if not text.strip():
            raise RowError(self.field, "empty text")
        return {"text": text}


def build_format(spec: str | Mapping | Any) -> Any:
    """A converter from a registered name, a ``dict(type=name, ...)`` or a ready callable."""
    if isinstance(spec, str):
        cls = DATA_FORMATS.get(spec)
        if cls is None:
            raise DataError(f"format: unknown format {spec!r}; registered: {', '.join(registered_formats())}")
        return cls()
    if isinstance(spec, Mapping):
        return DATA_FORMATS.build(dict(spec))
    return spec


def format_name(converter: Any) -> str:
    for name, cls in DATA_FORMATS.module_dict.items():
        if isinstance(converter, cls):
            return name
    return type(converter).__name__


def registered_formats() -> list[str]:
    return sorted(DATA_FORMATS.module_dict)


def detect_format(columns: set[str], where: str) -> str:
    """The one registered format whose ``detect`` accepts ``columns``, else a :class:`DataError`."""
    hits = []
    for name, cls in DATA_FORMATS.module_dict.items():
        detect = getattr(cls, "detect", None)
        if detect is not None and detect(columns) and cls not in [DATA_FORMATS.get(h) for h in hits]:
            hits.append(name)
    if len(hits) == 1:
        return hits[0]
    shown = ", ".join(sorted(columns)) or "none"
    if not hits:
        raise DataError(
            f"{where}: cannot tell the data format from its columns ({shown}); set `format=` to one of "
            f"{', '.join(registered_formats())}, or register your own in DATA_FORMATS"
        )
    raise DataError(
        f"{where}: columns ({shown}) fit several formats ({', '.join(hits)}); set `format=` explicitly"
    )
