"""``xtune <verb> ...``: dispatch to ``xtune.cli.<module>.main``."""

from __future__ import annotations

import importlib
import sys

# verb -> module under xtune.cli (each has ``main(argv: list[str] | None) -> int``)
VERBS = {
    "train": "train",
    "plan": "plan",
    "check-data": "check_data",
    "convert": "convert",
    "merge": "merge",
    "chat": "chat",
    "list-cfg": "list_cfg",
    "copy-cfg": "copy_cfg",
    "plot": "plot",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in VERBS:
        known = ", ".join(VERBS)
        print(f"usage: xtune <verb> [args]\n  verbs: {known}", file=sys.stderr if argv else sys.stdout)
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"xtune.cli.{VERBS[argv[0]]}")
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
