"""Helpers shared by the CLI verbs: config arguments and user-facing error reporting."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from xtune.errors import XtuneError


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """``CONFIG`` and ``--cfg-options k=v ...`` as in every config-taking verb."""
    parser.add_argument("config", help="path to an xtune config file")
    add_cfg_options(parser)


def add_cfg_options(
    parser: argparse.ArgumentParser,
    help: str = "override config keys, e.g. model.path=/models/Qwen1.5-14B-Chat train_cfg.max_iters=100",
) -> None:
    """``--cfg-options k=v ...`` (mmengine's ``DictAction``: ``a.b=1 c=[x,y]``)."""
    from mmengine.config import DictAction

    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, default=None, metavar="KEY=VALUE", help=help
    )


def load_and_validate(args: argparse.Namespace):
    """Load ``args.config`` with ``args.cfg_options`` and validate it; returns the Config."""
    from xtune.config import load_config, validate_config

    cfg = load_config(args.config, args.cfg_options)
    validate_config(cfg)
    return cfg


def user_errors(func: Callable[..., int]) -> Callable[..., int]:
    """Print an :class:`XtuneError` as one clear message (no traceback) and exit with status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> int:
        try:
            return func(*args, **kwargs)
        except XtuneError as exc:
            print(f"xtune: error: {exc}", file=sys.stderr)
            return 2

    return wrapper
