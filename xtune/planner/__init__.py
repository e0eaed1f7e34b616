"""Memory planning before any weight loads: architecture, per-GPU memory, recommendations."""
