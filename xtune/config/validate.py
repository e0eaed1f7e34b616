"""Validate a config against the signatures of the components it names, before anything heavy runs.

Every dict with a ``type`` key is resolved in the registry its slot belongs to (``model.adapter`` →
ADAPTERS, ``custom_hooks`` → HOOKS, ...), and its keys are checked against the component's
``__init__`` signature: unknown keys get a "did you mean" and the ``file:line`` where they were
written; values of the wrong type are named with the expected type. All problems are reported at once.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

from mmengine.config import Config, ConfigDict
from mmengine.registry import Registry

from xtune import registry as R
from xtune.config.loader import config_files
from xtune.errors import ConfigError

# The registry a component found under this key belongs to. Keys not listed are resolved in every
# xtune registry and validated when exactly one knows the name.
SLOT_REGISTRIES: dict[str, Registry] = {
    "model": R.MODELS,
    "quantizer": R.QUANTIZERS,
    "adapter": R.ADAPTERS,
    "loss": R.LOSSES,
    "strategy": R.STRATEGIES,
    "dataset": R.DATASETS,
    "sources": R.DATASETS,
    "format": R.DATA_FORMATS,
    "sampler": R.DATA_SAMPLERS,
    "optimizer": R.OPTIMIZERS,
    "optim_wrapper": R.OPTIM_WRAPPERS,
    "param_scheduler": R.PARAM_SCHEDULERS,
    "custom_hooks": R.HOOKS,
    "default_hooks": R.HOOKS,
    "train_cfg": R.LOOPS,
}

# Top-level keys xtune or mmengine's Runner understand; a near miss of one of them is an error.
KNOWN_TOP_LEVEL = {
    "model",
    "tokenizer",
    "strategy",
    "precision",
    "gpus",
    "train_dataloader",
    "val_dataloader",
    "test_dataloader",
    "train_cfg",
    "val_cfg",
    "test_cfg",
    "optim_wrapper",
    "param_scheduler",
    "default_hooks",
    "custom_hooks",
    "env_cfg",
    "log_processor",
    "log_level",
    "load_from",
    "resume",
    "randomness",
    "visualizer",
    "vis_backends",
    "work_dir",
    "default_scope",
    "custom_imports",
    "launcher",
    "experiment_name",
    "auto_scale_lr",
    "val_evaluator",
    "test_evaluator",
    "data_preprocessor",
    "model_wrapper_cfg",
    "cfg",
    "dataset",
    "evaluation",
    "chat_prompts",
}


def validate_config(cfg: Config) -> None:
    """Raise one :class:`ConfigError` listing every problem found in ``cfg``; return quietly if none."""
    import mmengine.runner  # noqa: F401  (registers mmengine's hooks, loops, optimizers, schedulers)

    _import_custom(cfg)
    files = config_files(cfg.filename) if cfg.filename else []
    overridden = set(cfg.get("_cfg_options", []))
    problems: list[str] = []

    for key in cfg.keys():
        if key.startswith("_") or key in KNOWN_TOP_LEVEL:
            continue
        close = difflib.get_close_matches(key, KNOWN_TOP_LEVEL, n=1, cutoff=0.85)
        if close:
            problems.append(
                f"{key}: unknown top-level key; did you mean `{close[0]}`?{_where(key, files, overridden)}"
            )

    for path, node in _walk(cfg._cfg_dict if isinstance(cfg, Config) else cfg, ""):
        problems.extend(_check_component(path, node, files, overridden))

    if problems:
        name = cfg.filename or "<config>"
        raise ConfigError(
            f"{len(problems)} problem(s) in config {name}:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _import_custom(cfg: Config) -> None:
    custom = cfg.get("custom_imports")
    if custom:
        from mmengine.utils import import_modules_from_strings

        try:
            import_modules_from_strings(**custom)
        except ImportError as exc:
            raise ConfigError(f"custom_imports: cannot import {custom.get('imports')}: {exc}") from exc


def _walk(node: Any, path: str):
    """Yield ``(dotted_path, dict)`` for every dict with a ``type`` key, depth first."""
    if isinstance(node, Mapping):
        if "type" in node:
            yield path, node
        for key, value in node.items():
            if key == "type":
                continue
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _slot_name(path: str) -> str:
    parts = [p for p in re.split(r"\.|\[\d+\]", path) if p]
    if not parts:
        return ""
    if len(parts) >= 2 and parts[-2] == "default_hooks":
        return "default_hooks"
    return parts[-1]


def _resolve(path: str, type_: Any) -> tuple[Any, str | None]:
    """Return ``(component, error)`` for the ``type`` at ``path``; component is None when unknown."""
    if not isinstance(type_, str):
        return (type_ if callable(type_) else None), None
    registry = SLOT_REGISTRIES.get(_slot_name(path))
    if registry is not None:
        found = registry.get(type_)
        if found is None:
            names = _registered_names(registry)
            close = difflib.get_close_matches(type_, names, n=1, cutoff=0.6)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            shown = ", ".join(sorted(names)[:20])
            return None, (
                f"{path}.type: unknown {registry.name} `{type_}`.{hint} Known: {shown}. "
                "Register your own with a decorator and list its module in `custom_imports`."
            )
        return found, None
    hits = {id(c): c for reg in _xtune_registries() if (c := reg.get(type_)) is not None}
    return (next(iter(hits.values())) if len(hits) == 1 else None), None


def _xtune_registries() -> list[Registry]:
    return [value for value in vars(R).values() if isinstance(value, Registry)]


def _registered_names(registry: Registry) -> list[str]:
    names: set[str] = set()
    current: Registry | None = registry
    while current is not None:
        current.import_from_location()
        names.update(current.module_dict)
        current = current.parent
    return list(names)


def _check_component(path: str, node: Mapping, files: list[Path], overridden: set[str]) -> list[str]:
    component, error = _resolve(path, node["type"])
    if error:
        return [error + _where(str(node["type"]), files, overridden)]
    if component is None:
        return []
    try:
        target = component.__init__ if inspect.isclass(component) else component
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    params = {n: p for n, p in signature.parameters.items() if n not in ("self", "cls")}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    hints = _hints(target)
    label = getattr(component, "__name__", str(component))
    problems = []
    for key, value in node.items():
        if key == "type":
            continue
        full = f"{path}.{key}" if path else key
        if key not in params:
            if takes_any:
                continue
            close = _suggest(key, list(params))
            hint = f"; did you mean `{close}`?" if close else ""
            accepted = ", ".join(
                n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL
            )
            problems.append(
                f"{full}: unknown key `{key}` for {label}{hint} (accepted: {accepted})"
                + _where(key, files, overridden, full)
            )
            continue
        hint_type = hints.get(key)
        if hint_type is not None and not _matches(value, hint_type):
            problems.append(
                f"{full}: expected {_type_name(hint_type)}, got {type(value).__name__} {value!r}"
                + _where(key, files, overridden, full)
            )
    return problems


def _suggest(key: str, names: list[str]) -> str | None:
    """The accepted name ``key`` most likely meant: a close spelling, else a shared prefix (``rnak`` → ``r``)."""
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixed = [n for n in names if key.startswith(n) or n.startswith(key)]
    return max(prefixed, key=len) if prefixed else None


def _hints(target: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: skip type checks, keep key checks
        return {}


def _matches(value: Any, hint: Any) -> bool:
    """A lenient check: True unless ``value`` clearly cannot be ``hint``."""
    if hint is Any or value is None and hint is type(None):
        return True
    if isinstance(value, Mapping) and "type" in value:
        return True  # a nested component, validated on its own
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return value in args
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            return False
        inner = args[0] if args and origin is not tuple else None
        return inner is None or all(_matches(v, inner) for v in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return isinstance(value, (dict, ConfigDict, Mapping))
    if value is None:
        return False
    return True


def _type_name(hint: Any) -> str:
    text = str(hint) if typing.get_origin(hint) else getattr(hint, "__name__", str(hint))
    return text.replace("typing.", "")


def _where(key: str, files: list[Path], overridden: set[str], full: str | None = None) -> str:
    if full and full in overridden:
        return " (set by --cfg-options)"
    pattern = re.compile(rf"(\b{re.escape(key)}\s*=(?!=)|['\"]{re.escape(key)}['\"])")
    for file in files:
        for number, line in enumerate(file.read_text().splitlines(), start=1):
            if pattern.search(line.split("#")[0]):
                return f" [{file}:{number}]"
    return ""
