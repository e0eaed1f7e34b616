"""Train with an xtune config: ``python tools/train.py configs/qwen1_5_14b_qlora.py``."""

import sys

from xtune.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
