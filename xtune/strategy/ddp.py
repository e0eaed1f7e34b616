"""Data parallel: one full replica of the model per process, gradients averaged with all-reduce."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xtune.registry import STRATEGIES
from xtune.strategy.base import LaunchContext, RunSetup

if TYPE_CHECKING:
    from xtune.planner.split import MemorySplit


@STRATEGIES.register_module()
class DDP:
    """PyTorch ``DistributedDataParallel`` through mmengine's ``MMDistributedDataParallel``.

    Every process holds the whole model, its gradients and its optimizer states: more GPUs give a
    larger global batch and more speed, never room for a larger model.

    Args:
        find_unused_parameters: let DDP tolerate parameters that get no gradient in a step (costs a
            graph traversal per step; only needed for models with conditional branches).
        gradient_as_bucket_view: gradients live inside DDP's communication buckets instead of in a
            second copy (saves one gradient-sized buffer per process).
        backend: ``torch.distributed`` backend; ``None`` picks ``nccl`` on GPUs and ``gloo`` on CPU.
    """

    shards_params = False

    def __init__(
        self,
        find_unused_parameters: bool = False,
        gradient_as_bucket_view: bool = True,
        backend: str | None = None,
    ) -> None:
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.backend = backend

    def memory_split(self, world_size: int) -> MemorySplit:
        """For the planner: a full replica per process (plus DDP's bucket copy of the gradients unless
        ``gradient_as_bucket_view``)."""
        from xtune.planner.split import MemorySplit

        return MemorySplit.ddp(world_size, self.gradient_as_bucket_view)

    def check(self, ctx: LaunchContext) -> list[str]:
        problems = []
        if ctx.launcher == "none":
            problems.append(
                "strategy: `DDP` needs one process per device; launch with `torchrun --nproc_per_node N "
                "tools/train.py CFG --launcher pytorch` (or tools/dist_train.sh CFG N), or use "
                "strategy=dict(type='Single') for one process."
            )
        if self.backend == "nccl" and ctx.device == "cpu":
            problems.append("strategy.backend: `nccl` needs GPUs; use 'gloo' (or None) on CPU.")
        return problems

    def setup(self, launcher: str, precision: str, device: str) -> RunSetup:
        backend = self.backend or ("nccl" if device == "cuda" else "gloo")
        wrapper = dict(
            type="MMDistributedDataParallel",
            broadcast_buffers=False,
            find_unused_parameters=self.find_unused_parameters,
            gradient_as_bucket_view=self.gradient_as_bucket_view,
        )
        if device == "cpu":
            # mmengine passes device_ids=[LOCAL_RANK], which DDP refuses for CPU modules.
            wrapper["device_ids"] = None
        return RunSetup(
            "Runner",
            {
                "launcher": launcher,
                "model_wrapper_cfg": wrapper,
                "env_cfg": {"dist_cfg": {"backend": backend}},
            },
        )
