"""Compatibility rules are enforced before anything is built, with messages that name the key or flag."""

from __future__ import annotations

import pytest
from mmengine.config import Config

from xtune.errors import ConfigError
from xtune.strategy import DDP, DeepSpeed, LaunchContext, ModelParallel, Single
from xtune.strategy.rules import check_compatibility, launch_context

TORCHRUN_ENV = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}


@pytest.fixture
def torchrun_env(monkeypatch):
    for key, value in TORCHRUN_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def no_torchrun_env(monkeypatch):
    for key in TORCHRUN_ENV:
        monkeypatch.delenv(key, raising=False)


def _refused(strategy, ctx: LaunchContext) -> str:
    with pytest.raises(ConfigError) as info:
        check_compatibility(strategy, ctx)
    return str(info.value)


def test_single_with_a_multi_process_launcher(torchrun_env):
    message = _refused(Single(), LaunchContext(launcher="pytorch", world_size=2))
    assert "`Single` runs one process, but --launcher pytorch starts one per device" in message
    assert "strategy=dict(type='DDP')" in message


def test_model_parallel_refuses_multi_process_and_cpu(torchrun_env):
    message = _refused(ModelParallel(), LaunchContext(launcher="pytorch", world_size=2, device="cpu"))
    assert "inside ONE process" in message and "drop --launcher" in message
    assert "this machine has none" in message


def test_model_parallel_needs_two_gpus(no_torchrun_env):
    assert "needs at least 2 GPUs, 1 visible" in _refused(
        ModelParallel(), LaunchContext(device="cuda", gpus=1)
    )
    assert "strategy.devices" in _refused(ModelParallel(devices=[0, 3]), LaunchContext(device="cuda", gpus=2))
    check_compatibility(ModelParallel(), LaunchContext(device="cuda", gpus=2))  # fine


@pytest.mark.parametrize("strategy", [DDP(), DeepSpeed(stage=2)])
def test_data_parallel_strategies_need_a_launcher(strategy, no_torchrun_env):
    message = _refused(strategy, LaunchContext(launcher="none"))
    assert "torchrun --nproc_per_node N tools/train.py CFG --launcher pytorch" in message


def test_parameter_offload_needs_zero3(torchrun_env):
    message = _refused(
        DeepSpeed(stage=2, offload_params=True), LaunchContext(launcher="pytorch", world_size=2)
    )
    assert "strategy.offload_params: parameter offload needs ZeRO stage 3 (got stage 2)" in message
    message = _refused(
        DeepSpeed(stage=0, offload_optimizer=True), LaunchContext(launcher="pytorch", world_size=2)
    )
    assert "strategy.offload_optimizer" in message


def test_optimizer_offload_needs_adam(torchrun_env):
    ctx = LaunchContext(launcher="pytorch", world_size=2, optimizer="SGD")
    assert "optim_wrapper.optimizer.type" in _refused(DeepSpeed(stage=2, offload_optimizer=True), ctx)
    check_compatibility(DeepSpeed(stage=2, offload_optimizer=True), LaunchContext(
        launcher="pytorch", world_size=2, optimizer="AdamW"))  # fmt: skip


def test_nccl_on_cpu_names_the_key(torchrun_env):
    assert "strategy.backend: `nccl` needs GPUs" in _refused(
        DDP(backend="nccl"), LaunchContext(launcher="pytorch")
    )


def test_launcher_pytorch_without_torchrun(no_torchrun_env):
    message = _refused(DDP(), LaunchContext(launcher="pytorch"))
    assert "--launcher pytorch: RANK/WORLD_SIZE/LOCAL_RANK are not set" in message


def test_torchrun_without_launcher_flag(torchrun_env):
    message = _refused(Single(), LaunchContext(launcher="none"))
    assert "started by torchrun (WORLD_SIZE=2) but --launcher is none" in message


def test_launch_context_reads_the_config(torchrun_env):
    cfg = Config(
        dict(
            model=dict(type="SupervisedFinetune", path="x", quantizer=dict(type="BnB4bit"), adapter=dict(type="LoRA")),
            train_dataloader=dict(batch_size=3),
            optim_wrapper=dict(optimizer=dict(type="AdamW", lr=1e-4), clip_grad=dict(max_norm=0.5), accumulative_counts=4),
        )
    )  # fmt: skip
    ctx = launch_context(cfg, "pytorch", "cpu", "fp32")
    assert (ctx.world_size, ctx.quantized, ctx.trains_base) == (2, True, False)
    assert (ctx.micro_batch_size, ctx.accumulative_counts, ctx.max_grad_norm, ctx.optimizer) == (
        3,
        4,
        0.5,
        "AdamW",
    )
    full = launch_context(
        Config(dict(model=dict(path="x", adapter=dict(type="Full")))), "none", "cpu", "fp32"
    )
    assert (full.quantized, full.trains_base, full.world_size) == (False, True, 1)


def test_offload_options_do_not_exist_outside_deepspeed(repo):
    """'Offload without DeepSpeed' is caught by config validation, naming the key."""
    from xtune.config import load_config, validate_config

    cfg = load_config(
        str(repo / "configs/demo/tiny_qwen_lora.py"), {"strategy": dict(type="DDP", offload_optimizer=True)}
    )
    with pytest.raises(
        ConfigError, match=r"strategy.offload_optimizer: unknown key `offload_optimizer` for DDP"
    ):
        validate_config(cfg)


def test_cli_refuses_before_building_anything(repo, train, no_torchrun_env, capsys):
    code, work_dir = train(repo / "configs/demo/tiny_qwen_lora.py", "strategy.type=DDP")
    assert code == 2
    err = capsys.readouterr().err
    assert "strategy `DDP` cannot run like this" in err and "--launcher pytorch" in err
    assert not (work_dir / "model_states_rank0.json").exists()
