"""Strategy components: how a run is spread over devices, and which mmengine runner executes it."""

from xtune.strategy.base import RunSetup, Strategy
from xtune.strategy.single import Single

__all__ = ["RunSetup", "Single", "Strategy"]
