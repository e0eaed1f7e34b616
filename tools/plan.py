"""Will a fine-tune fit your GPUs? ``python tools/plan.py configs/qwen1_5_14b_qlora.py --gpus 2x24GB``."""

import sys

from xtune.cli.plan import main

if __name__ == "__main__":
    sys.exit(main())
