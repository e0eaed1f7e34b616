"""The model-state report counts what a rank holds: whole tensors, ZeRO-3 shards, 4-bit constants, master copies."""

from __future__ import annotations

import json
import types

import pytest
import torch
from torch import nn

from xtune.engine.hooks.model_states import ModelStatesHook, model_states, strategy_name, torch_optimizer


def _step(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    model(torch.randn(2, 8)).sum().backward()
    optimizer.step()


def test_single_process_counts_params_grads_and_adam_moments():
    model = nn.Sequential(nn.Linear(8, 16), nn.Linear(16, 4))
    model[0].weight.requires_grad_(False)  # frozen: no grad, no optimizer state
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    _step(model, optimizer)
    report = model_states(model, optimizer, rank=0, world_size=1)
    trainable = (16 + 16 * 4 + 4) * 4
    assert report["param_bytes"] == (8 * 16 + 16 + 16 * 4 + 4) * 4
    assert report["grad_bytes"] == trainable
    steps = sum(s["step"].numel() * s["step"].element_size() for s in optimizer.state.values())
    assert report["optimizer_bytes"] == 2 * trainable + steps
    assert report["master_param_bytes"] == 0
    assert report["strategy"] == "Single"
    assert report["bytes_by_device"] == {"cpu": report["total_bytes"]}


def test_zero3_shards_count_instead_of_released_params():
    """A partitioned parameter is empty outside its layer's forward; its shard is what stays resident."""
    model = nn.Linear(8, 8, bias=False)
    model.weight.data = torch.empty(0)
    model.weight.ds_tensor = torch.zeros(32)  # this rank's half of 64 elements
    master = torch.zeros(32, requires_grad=True)  # the optimizer's fp32 copy of the shard
    master.grad = torch.zeros(32)
    optimizer = torch.optim.Adam([master])
    optimizer.step()
    report = model_states(model, optimizer, rank=1, world_size=2)
    assert report["param_bytes"] == 32 * 4
    assert report["master_param_bytes"] == 32 * 4 and report["grad_bytes"] == 32 * 4
    assert report["optimizer_bytes"] == 2 * 32 * 4 + 4  # m, v and a scalar step


def test_quantization_constants_count_with_the_packed_weight():
    model = nn.Linear(4, 4)
    nested = types.SimpleNamespace(absmax=torch.zeros(2), code=torch.zeros(256), state2=None)
    model.weight.quant_state = types.SimpleNamespace(absmax=torch.zeros(3, dtype=torch.uint8), state2=nested)
    report = model_states(model, torch.optim.SGD(model.parameters(), lr=0.1), 0, 1)
    assert report["param_bytes"] == (16 + 4) * 4 + 3 + (2 + 256) * 4


def test_torch_optimizer_unwraps_deepspeed_style_wrappers():
    adam = torch.optim.Adam([nn.Parameter(torch.zeros(1))])
    wrapper = types.SimpleNamespace(optimizer=types.SimpleNamespace(optimizer=adam))
    assert torch_optimizer(wrapper) is adam and torch_optimizer(adam) is adam


def test_strategy_name_reads_the_live_engine():
    engine = types.SimpleNamespace(
        zero_optimization_stage=lambda: 3, zero_cpu_offload=lambda: True, zero_offload_param=lambda: False
    )
    assert strategy_name(types.SimpleNamespace(model=engine)) == "DeepSpeed(stage=3, offload_optimizer=True)"


def test_hook_writes_after_the_first_optimizer_step(tmp_path):
    model = nn.Linear(8, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    logs = []
    runner = types.SimpleNamespace(
        model=model, optim_wrapper=types.SimpleNamespace(optimizer=optimizer), rank=0, world_size=1,
        work_dir=str(tmp_path), logger=types.SimpleNamespace(info=logs.append),
    )  # fmt: skip
    hook = ModelStatesHook()
    hook.before_train(runner)
    hook.after_train_iter(runner, 0)  # no step yet (e.g. accumulating gradients): nothing written
    assert not (tmp_path / "model_states_rank0.json").exists()
    _step(model, optimizer)
    hook.after_train_iter(runner, 1)
    report = json.loads((tmp_path / "model_states_rank0.json").read_text())
    assert report["grad_bytes"] == (16 + 2) * 4 and report["optimizer_bytes"] > 2 * (16 + 2) * 4
    assert logs and "model states on rank 0/1" in logs[0]
    optimizer.zero_grad()
    _step(model, optimizer)  # the measuring hook removed itself after the first step
    hook.after_train_iter(runner, 2)
    assert len(logs) == 1


@pytest.mark.parametrize(
    "key", ["rank", "world_size", "strategy", "param_bytes", "grad_bytes", "optimizer_bytes"]
)
def test_report_has_the_documented_keys(key):
    model = nn.Linear(2, 2)
    assert key in model_states(model, torch.optim.SGD(model.parameters(), lr=0.1), 0, 1)
