"""Config loading (mmengine ``Config`` with ``_base_``), ``--cfg-options`` and validation."""

from xtune.config.loader import config_files, load_config
from xtune.config.validate import validate_config

__all__ = ["config_files", "load_config", "validate_config"]
