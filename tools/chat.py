"""Chat with a model or adapter: ``python tools/chat.py WORK_DIR/hf [--prompt TEXT]``."""

import sys

from xtune.cli.chat import main

if __name__ == "__main__":
    sys.exit(main())
