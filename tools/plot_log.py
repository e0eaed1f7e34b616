"""Loss, learning rate and tokens/s curves of a run: ``python tools/plot_log.py WORK_DIR [--out PNG]``."""

import sys

from xtune.cli.plot import main

if __name__ == "__main__":
    sys.exit(main())
