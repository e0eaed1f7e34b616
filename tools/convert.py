"""Checkpoint → PEFT adapter or HF model: ``python tools/convert.py WORK_DIR/iter_400.pth --config CFG --out DIR``."""

import sys

from xtune.cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
