"""Runner assembly, hooks, checkpoint I/O and the mmengine compatibility fixes."""

from xtune.engine import optimizers  # noqa: F401  (registers AdamW8bit, PagedAdamW, PagedAdamW8bit)
