"""Runner assembly, hooks, checkpoint I/O and the mmengine compatibility fixes."""
