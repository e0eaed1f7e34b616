"""Merge an adapter into its 16-bit base: ``python tools/merge.py --base MODEL --adapter DIR --out DIR``."""

import sys

from xtune.cli.merge import main

if __name__ == "__main__":
    sys.exit(main())
