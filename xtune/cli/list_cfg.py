"""``xtune list-cfg [PATTERN]``: the shipped configs, each with the first line of its header comment."""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import os
import sys
from pathlib import Path

from xtune.cli.common import user_errors
from xtune.errors import ConfigError


def configs_root() -> Path:
    """The shipped ``configs/`` dir: ``$XTUNE_CONFIGS``, else the one beside the package, else ./configs."""
    if os.environ.get("XTUNE_CONFIGS"):
        return Path(os.environ["XTUNE_CONFIGS"])
    beside_package = Path(__file__).resolve().parents[2] / "configs"
    return beside_package if beside_package.is_dir() else Path.cwd() / "configs"


def config_names(root: Path | None = None) -> list[str]:
    """Leaf config names below ``root``, without ``.py`` (``qwen1_5_14b_qlora``, ``demo/tiny_qwen_lora``)."""
    root = root or configs_root()
    files = (p for p in root.rglob("*.py") if "_base_" not in p.relative_to(root).parts)
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in files)


def matches(name: str, pattern: str | None) -> bool:
    """A glob (``qwen1_5_*_qlora``) or, without wildcards, a substring (``14b``) of the name."""
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(Path(name).name, pattern)
    return pattern in name


def resolve_config(name: str, root: Path | None = None) -> Path:
    """A config file from a shipped name (``qwen1_5_14b_qlora``, with or without ``.py``) or a path."""
    path = Path(name)
    if path.is_file():
        return path
    root = root or configs_root()
    candidate = root / (name if name.endswith(".py") else f"{name}.py")
    if candidate.is_file():
        return candidate
    names = config_names(root)
    wanted = name.removesuffix(".py")
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.8) or [n for n in names if wanted in n][:5]
    hint = f" Did you mean: {', '.join(close)}?" if close else " `xtune list-cfg` lists them."
    raise ConfigError(f"no config named `{name}` in {root} and no such file.{hint}")


def summary(path: Path) -> str:
    """The first line of the file's leading comment block."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtune list-cfg", description=__doc__)
    parser.add_argument("pattern", nargs="?", help="substring or glob, e.g. 14b, qlora, 'qwen1_5_*_full'")
    parser.add_argument(
        "--root", type=Path, default=None, help="configs directory (default: the shipped one)"
    )
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = args.root or configs_root()
    names = [n for n in config_names(root) if matches(n, args.pattern)]
    if not names:
        print(f"no config matches `{args.pattern}` in {root}", file=sys.stderr)
        return 1
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {summary(root / f'{name}.py')}")
    return 0
