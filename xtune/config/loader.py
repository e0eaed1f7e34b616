"""Load a Python config with ``_base_`` inheritance and apply ``--cfg-options`` overrides."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from mmengine.config import Config

from xtune.errors import ConfigError


def load_config(path: str | os.PathLike, cfg_options: dict | None = None) -> Config:
    """Read ``path`` (and its ``_base_`` files), then merge ``cfg_options`` (``{'a.b': value}``) on top.

    Raises :class:`ConfigError` naming the file when it is missing or does not parse.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}. `tools/list_cfg.py` lists the shipped configs.")
    try:
        cfg = Config.fromfile(str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{exc.filename}:{exc.lineno}: syntax error in config: {exc.msg}") from exc
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: a `_base_` file is missing: {exc}") from exc
    except TypeError as exc:
        # mmengine merges a child's dict into the base's value and fails when the base holds a non-dict.
        raise ConfigError(
            f"{path}: cannot merge a value into what a `_base_` file set for the same key ({exc}). "
            "To replace the base's value instead of merging into it, add `_delete_=True` to your dict, "
            "e.g. `format=dict(_delete_=True, type=...)`."
        ) from exc
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except TypeError as exc:
            raise ConfigError(f"--cfg-options: cannot set {sorted(cfg_options)}: {exc}") from exc
        cfg["_cfg_options"] = sorted(cfg_options)
    return cfg


def config_files(path: str | os.PathLike) -> list[Path]:
    """The config file and all its ``_base_`` files, leaf first (used to point errors at a line)."""
    seen: list[Path] = []
    stack = [Path(path).resolve()]
    while stack:
        current = stack.pop(0)
        if current in seen or not current.is_file():
            continue
        seen.append(current)
        for base in _base_entries(current):
            stack.append((current.parent / base).resolve())
    return seen


def _base_entries(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text())
    except SyntaxError:
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets
        ):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            return [value] if isinstance(value, str) else list(value)
    return []
