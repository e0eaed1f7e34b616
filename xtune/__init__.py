"""xtune: declarative, config-driven fine-tuning of large language models."""

import logging

__version__ = "0.1.0"

# bitsandbytes 0.50 warns on import that optional hub-downloaded CPU kernels ("kernels-community") are
# missing. xtune never installs them (they download code at run time) and the built-in CPU path works, so
# the warning only alarms users; real bitsandbytes errors still surface.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
