"""Strategies answer ``memory_split``: the planner's protocol, implemented by the strategy components."""

from __future__ import annotations

import json

import pytest

from xtune.planner.components import build_strategy
from xtune.planner.split import DS_PREFETCH_BUCKET, MemorySplit, split_for


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (dict(type="Single"), MemorySplit.single()),
        (dict(type="DDP"), MemorySplit.ddp(4)),
        (dict(type="DDP", gradient_as_bucket_view=False), MemorySplit.ddp(4, gradient_as_bucket_view=False)),
        (dict(type="DeepSpeed", stage=2), MemorySplit.zero(2, 4)),
        (
            dict(type="DeepSpeed", stage=3, offload_optimizer=True, offload_params=True),
            MemorySplit.zero(3, 4, offload_optimizer=True, offload_params=True),
        ),
        (dict(type="ModelParallel"), MemorySplit.model_parallel(4)),
        (dict(type="ModelParallel", devices=[0, 1]), MemorySplit.model_parallel(2)),
    ],
)
def test_registered_strategies_implement_the_protocol(cfg, expected):
    strategy = build_strategy(cfg)
    assert callable(getattr(strategy, "memory_split", None)), type(strategy)
    assert strategy.memory_split(4) == expected
    if "devices" not in cfg:  # the name-keyed fallback (for strategies without the method) agrees
        assert split_for(dict(cfg), 4) == expected


def test_deepspeed_json_settings_reach_the_plan(tmp_path):
    ds_json = tmp_path / "ds.json"
    ds_json.write_text(
        json.dumps(
            {
                "zero_optimization": {
                    "stage": 3,
                    "reduce_bucket_size": 2e8,
                    "offload_optimizer": {"device": "cpu"},
                }
            }
        )
    )
    split = build_strategy(dict(type="DeepSpeed", config=str(ds_json))).memory_split(8)
    assert (split.label, split.offload_optimizer, split.offload_params) == ("zero3_offload_opt", True, False)
    assert split.comm_buffer_elems == 200_000_000 + DS_PREFETCH_BUCKET
    assert split.params == pytest.approx(1 / 8)


def test_zero_stages_shares():
    z1, z2, z3 = (MemorySplit.zero(stage, 8) for stage in (1, 2, 3))
    assert (z1.params, z1.grads, z1.optimizer) == (1.0, 1.0, 0.125)
    assert (z2.params, z2.grads, z2.optimizer) == (1.0, 0.125, 0.125)
    assert (z3.params, z3.grads, z3.fp32_grads, z3.gathers_module) == (0.125, 0.0, 0.125, True)
    offload = MemorySplit.zero(2, 8, offload_optimizer=True)
    assert offload.grads == 0.0 and offload.label == "zero2_offload"
