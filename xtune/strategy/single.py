"""One process on one device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xtune.registry import STRATEGIES
from xtune.strategy.base import LaunchContext, RunSetup

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

    def check(self, ctx: LaunchContext) -> list[str]:
        if ctx.launcher != "none":
            return [
                f"strategy: `Single` runs one process, but --launcher {ctx.launcher} starts one per device; "
                "use strategy=dict(type='DDP') or dict(type='DeepSpeed', stage=2|3) (or --deepspeed zero2|zero3) "
                "for multi-process runs."
            ]
        return []

    def setup(self, launcher: str, precision: str, device: str) -> RunSetup:
        from xtune.errors import ConfigError

        problems = self.check(LaunchContext(launcher=launcher, device=device, precision=precision))
        if problems:
            raise ConfigError(problems[0])
        return RunSetup("Runner", {"launcher": "none"})
