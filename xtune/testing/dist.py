"""Launch small multi-process runs for tests and benchmarks through torchrun (torch.distributed.run)."""

from __future__ import annotations

import socket
import sys
from os import PathLike


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for ``--master_port``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(script: str | PathLike, *args: str | PathLike, nproc: int = 2) -> list[str]:
    """``python -m torch.distributed.run --nproc_per_node N --master_port <free> SCRIPT ARGS...``."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
        "--master_port", str(free_port()), str(script), *map(str, args),
    ]  # fmt: skip
