"""Write a standalone, editable copy of a config: ``python tools/copy_cfg.py qwen1_5_14b_qlora my_run.py``."""

import sys

from xtune.cli.copy_cfg import main

if __name__ == "__main__":
    sys.exit(main())
