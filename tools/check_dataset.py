"""Check a config's dataset before training: ``python tools/check_dataset.py configs/demo/tiny_qwen_lora.py``."""

import sys

from xtune.cli.check_data import main

if __name__ == "__main__":
    sys.exit(main())
