"""List the shipped configs: ``python tools/list_cfg.py [PATTERN]`` (e.g. ``qlora`` or ``'qwen1_5_*_full'``)."""

import sys

from xtune.cli.list_cfg import main

if __name__ == "__main__":
    sys.exit(main())
