"""``xtune copy-cfg NAME DEST``: a standalone copy of a config, every ``_base_`` file merged in, to edit.

The copy parses to exactly the same settings as the original (``--cfg-options`` can bake overrides in).
It is written by a small formatter of xtune's own rather than mmengine's ``Config.pretty_text``, which
sorts every key alphabetically and puts ``type`` last; here ``type`` leads each component and the
training-relevant keys come first, so the copy reads like a hand-written config.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xtune.cli.common import add_cfg_options, user_errors
from xtune.cli.list_cfg import resolve_config
from xtune.errors import ConfigError

WIDTH = 110
INDENT = 4
# Top-level keys written first, in this order; the rest follow in the config's own order.
LEADING = (
    "model", "tokenizer", "strategy", "precision", "gpus", "train_dataloader", "val_dataloader",
    "optim_wrapper", "param_scheduler", "train_cfg", "val_cfg",
)  # fmt: skip


def flatten(cfg: Any, source: Path | None = None) -> str:
    """Python source for ``cfg`` (an mmengine Config) with no ``_base_``; parses to ``cfg.to_dict()``."""
    from xtune.config.validate import KNOWN_TOP_LEVEL

    data = cfg.to_dict()
    data.pop("_cfg_options", None)
    known = [k for k in LEADING if k in data] + [k for k in data if k in KNOWN_TOP_LEVEL and k not in LEADING]
    helpers = [k for k in data if k not in known]
    lines = _header(source)
    lines += [f"{key} = {format_value(data[key], len(key) + 3, 0, key)}" for key in known]
    if helpers:
        lines += [
            "",
            "# Values the base files used to build the settings above. Changing them here has no effect:",
            "# edit the settings themselves (e.g. optim_wrapper.optimizer.lr, train_cfg.max_iters).",
        ]
        lines += [f"{key} = {format_value(data[key], len(key) + 3, 0, key)}" for key in helpers]
    return "\n".join(lines) + "\n"


def _header(source: Path | None) -> list[str]:
    if source is None:
        return []
    comments = []
    for line in source.read_text().splitlines():
        if not line.startswith("#"):
            break
        comments.append(line)
    provenance = (
        f"# Standalone copy of {_shown(source)} made by `xtune copy-cfg`: every _base_ file merged in."
    )
    return [provenance, *(["# The original's header:", *comments] if comments else []), ""]


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter, and what users typed)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def format_value(value: Any, column: int, indent: int, where: str) -> str:
    """``value`` as Python source starting at ``column``; nested lines are indented from ``indent``."""
    flat = _one_line(value, where)
    if column + len(flat) <= WIDTH or not isinstance(value, (Mapping, list, tuple)) or not value:
        return flat
    inner = indent + INDENT
    pad = " " * inner
    if isinstance(value, Mapping):
        if _identifier_keys(value):
            items = [
                f"{pad}{k}={format_value(v, inner + len(k) + 1, inner, f'{where}.{k}')},"
                for k, v in _ordered(value)
            ]
            return "dict(\n" + "\n".join(items) + "\n" + " " * indent + ")"
        items = [
            f"{pad}{k!r}: {format_value(v, inner + len(repr(k)) + 2, inner, f'{where}.{k}')},"
            for k, v in _ordered(value)
        ]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{format_value(v, inner, inner, f'{where}[{i}]')}," for i, v in enumerate(value)]
    opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
    return opening + "\n" + "\n".join(items) + "\n" + " " * indent + closing


def _one_line(value: Any, where: str) -> str:
    if isinstance(value, Mapping):
        if _identifier_keys(value):
            return (
                "dict(" + ", ".join(f"{k}={_one_line(v, f'{where}.{k}')}" for k, v in _ordered(value)) + ")"
            )
        return "{" + ", ".join(f"{k!r}: {_one_line(v, f'{where}.{k}')}" for k, v in _ordered(value)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_one_line(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, tuple):
        parts = [_one_line(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if isinstance(value, str):
        simple = value.isprintable() and '"' not in value and "\\" not in value
        return f'"{value}"' if simple else repr(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise ConfigError(f"{where}: cannot write a {type(value).__name__} value into a standalone config")


def _identifier_keys(mapping: Mapping) -> bool:
    import keyword

    return all(isinstance(k, str) and k.isidentifier() and not keyword.iskeyword(k) for k in mapping)


def _ordered(mapping: Mapping) -> list[tuple[Any, Any]]:
    items = list(mapping.items())
    return sorted(items, key=lambda kv: kv[0] != "type")  # stable: `type` first, the rest as written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtune copy-cfg", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a shipped config name (`xtune list-cfg`), or a config file")
    parser.add_argument("dest", help="file to write, or a directory (the copy keeps the config's file name)")
    add_cfg_options(parser, help="overrides to bake into the copy, e.g. model.path=/models/Qwen1.5-14B-Chat")
    parser.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    from xtune.config import load_config

    args = build_parser().parse_args(argv)
    source = resolve_config(args.name)
    dest = Path(args.dest)
    if dest.is_dir() or args.dest.endswith(("/", "\\")):
        dest = dest / source.name
    if dest.exists() and not args.force:
        raise ConfigError(f"{dest} exists; pass --force to overwrite it")
    cfg = load_config(source, args.cfg_options)
    text = flatten(cfg, source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    print(f"wrote {dest} (standalone copy of {_shown(source)})", file=sys.stdout)
    return 0
