"""User-facing errors: each says what is wrong, where (config key or file:line) and what to do."""


class XtuneError(Exception):
    """Base of every error xtune raises for a user to read (the CLI prints it without a traceback)."""


class ConfigError(XtuneError):
    """A config key, value or combination is wrong."""


class ModelLoadError(XtuneError):
    """A model cannot be found, reached or loaded as configured."""


class DataError(XtuneError):
    """A dataset file, row or field is wrong."""
