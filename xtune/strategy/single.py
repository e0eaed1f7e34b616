"""One process on one device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xtune.registry import STRATEGIES
from xtune.strategy.base import RunSetup

if TYPE_CHECKING:
    from xtune.planner.split import MemorySplit


@STRATEGIES.register_module()
class Single:
    """Train in one process on one device (GPU if present, else CPU)."""

    shards_params = False

    def __init__(self) -> None:
        pass

    def memory_split(self, world_size: int = 1) -> MemorySplit:
        """For the planner: every model state on the one device this process uses."""
        from xtune.planner.split import MemorySplit

        return MemorySplit.single()

    def setup(self, launcher: str, precision: str, device: str) -> RunSetup:
        from xtune.errors import ConfigError

        if launcher != "none":
            raise ConfigError(
                f"strategy: `Single` runs one process, but --launcher {launcher} starts several; "
                "use strategy=dict(type='DDP') or DeepSpeed for multi-process runs."
            )
        return RunSetup("Runner", {"launcher": "none"})
