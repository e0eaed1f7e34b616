"""What each strategy turns into: runner class, mmengine overrides, and the derived DeepSpeed JSON."""

from __future__ import annotations

import json

import pytest

from xtune.errors import ConfigError
from xtune.strategy import DDP, DeepSpeed, LaunchContext, ModelParallel, Single
from xtune.strategy.deepspeed import PRESETS, complete_config, offloads_optimizer, strategy_from_flag


def test_single_runs_the_plain_runner_without_launcher():
    setup = Single().setup("none", "fp32", "cpu")
    assert (setup.runner_type, setup.overrides) == ("Runner", {"launcher": "none"})


def test_ddp_on_cpu_uses_gloo_and_no_device_ids():
    setup = DDP().setup("pytorch", "fp32", "cpu")
    assert setup.runner_type == "Runner"
    wrapper = setup.overrides["model_wrapper_cfg"]
    assert wrapper["type"] == "MMDistributedDataParallel"
    assert wrapper["device_ids"] is None and wrapper["gradient_as_bucket_view"] is True
    assert setup.overrides["env_cfg"] == {"dist_cfg": {"backend": "gloo"}}
    assert setup.overrides["launcher"] == "pytorch"


def test_ddp_on_gpu_keeps_mmengine_device_ids_and_nccl():
    setup = DDP().setup("pytorch", "bf16", "cuda")
    assert "device_ids" not in setup.overrides["model_wrapper_cfg"]  # mmengine sets [LOCAL_RANK]
    assert setup.overrides["env_cfg"]["dist_cfg"]["backend"] == "nccl"


def test_deepspeed_replaces_the_strategy_and_optim_wrapper():
    setup = DeepSpeed(stage=3).setup("pytorch", "bf16", "cuda")
    assert setup.runner_type == "FlexibleRunner"
    runner_strategy = setup.overrides["strategy"]
    assert runner_strategy["_delete_"] is True  # replaces cfg.strategy instead of merging into it
    assert runner_strategy["type"] == "xtune.DeepSpeedEngineStrategy"
    assert setup.overrides["optim_wrapper"] == {"type": "DeepSpeedOptimWrapper"}
    config = runner_strategy["config"]
    assert config["zero_optimization"]["stage"] == 3
    assert config["bf16"]["enabled"] is True and config["fp16"]["enabled"] is False


@pytest.mark.parametrize(("precision", "bf16", "fp16"), [("fp32", False, False), ("fp16", False, True)])
def test_deepspeed_precision_follows_the_run(precision, bf16, fp16):
    config = DeepSpeed(stage=2).partial_config(precision)
    assert (config["bf16"]["enabled"], config["fp16"]["enabled"]) == (bf16, fp16)
    if fp16:
        assert config["fp16"]["loss_scale"] == 0  # dynamic loss scaling


def test_deepspeed_offload_sections():
    config = DeepSpeed(stage=3, offload_optimizer=True, offload_params=True).partial_config("bf16")
    zero = config["zero_optimization"]
    assert zero["offload_optimizer"]["device"] == "cpu" and zero["offload_param"]["device"] == "cpu"
    assert offloads_optimizer(config)
    assert not offloads_optimizer(DeepSpeed(stage=3).partial_config("bf16"))


def test_runner_values_fill_only_auto_or_missing_keys():
    partial = {"train_micro_batch_size_per_gpu": "auto", "gradient_clipping": 0.5, "train_batch_size": "auto"}
    config = complete_config(partial, micro_batch_size=4, accumulative_counts=8, max_grad_norm=1.0)
    assert config["train_micro_batch_size_per_gpu"] == 4
    assert config["gradient_accumulation_steps"] == 8
    assert config["gradient_clipping"] == 0.5  # the user's JSON wins where it is explicit
    assert "train_batch_size" not in config  # DeepSpeed derives it from micro batch x accumulation x ranks
    assert complete_config({}, 2, 1, None)["gradient_clipping"] == 0.0  # DeepSpeed: 0 = no clipping


def test_user_json_is_the_starting_point(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(
        json.dumps({"zero_optimization": {"stage": 3, "overlap_comm": True}, "bf16": {"enabled": "auto"}})
    )
    strategy = DeepSpeed(config=str(path))
    assert strategy.effective_stage == 3 and strategy.shards_params
    config = strategy.partial_config("bf16")
    assert config["zero_optimization"] == {"stage": 3, "overlap_comm": True}
    assert config["bf16"]["enabled"] is True


def test_user_json_contradicting_the_config_is_refused(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"train_micro_batch_size_per_gpu": 16, "fp16": {"enabled": True},
                                "zero_optimization": {"stage": 3}}))  # fmt: skip
    ctx = LaunchContext(launcher="pytorch", world_size=2, micro_batch_size=4, precision="fp32")
    problems = DeepSpeed(stage=2, config=str(path)).check(ctx)
    text = "\n".join(problems)
    assert "train_micro_batch_size_per_gpu=16" in text and "train_dataloader.batch_size=4" in text
    assert "fp16.enabled=True" in text and "precision" in text
    assert "strategy.stage=2 contradicts zero_optimization.stage=3" in text


def test_unreadable_user_json_names_the_key(tmp_path):
    problems = DeepSpeed(config=str(tmp_path / "missing.json")).check(LaunchContext(launcher="pytorch"))
    assert problems and problems[0].startswith("strategy.config: cannot read DeepSpeed JSON")


def test_shards_params_only_for_stage3():
    assert [DeepSpeed(stage=s).shards_params for s in (0, 1, 2, 3)] == [False, False, False, True]
    assert DeepSpeed().effective_stage == 2
    assert not DDP().shards_params and not Single().shards_params and not ModelParallel().shards_params


def test_deepspeed_flag_presets_and_json(tmp_path):
    assert strategy_from_flag("zero2") == {"type": "DeepSpeed", "stage": 2}
    assert strategy_from_flag("zero3_offload") == {
        "type": "DeepSpeed", "stage": 3, "offload_optimizer": True, "offload_params": True}  # fmt: skip
    # settings of a DeepSpeed strategy already configured survive the shorthand; other strategies do not
    kept = strategy_from_flag("zero3", {"type": "DeepSpeed", "stage": 2, "param_persistence_threshold": 0})
    assert kept == {"type": "DeepSpeed", "stage": 3, "param_persistence_threshold": 0}
    untyped = strategy_from_flag(
        "zero2", {"offload_optimizer": True}
    )  # --cfg-options strategy.offload_optimizer=True
    assert untyped == {"type": "DeepSpeed", "stage": 2, "offload_optimizer": True}
    assert strategy_from_flag("zero2", {"type": "DDP", "find_unused_parameters": True}) == PRESETS["zero2"] | {
        "type": "DeepSpeed"}  # fmt: skip
    path = tmp_path / "ds.json"
    path.write_text("{}")
    assert strategy_from_flag(str(path)) == {"type": "DeepSpeed", "config": str(path)}
    with pytest.raises(ConfigError, match="--deepspeed: expected one of zero1"):
        strategy_from_flag("zero4")
    with pytest.raises(ConfigError, match="no such DeepSpeed JSON"):
        strategy_from_flag(str(tmp_path / "nope.json"))


def test_model_parallel_runs_one_process_with_its_runner_strategy():
    setup = ModelParallel(devices=[0, 1]).setup("none", "bf16", "cuda")
    assert setup.runner_type == "FlexibleRunner"
    assert setup.overrides["launcher"] == "none"
    assert setup.overrides["strategy"]["type"] == "xtune.ModelParallelRunnerStrategy"
    assert setup.overrides["strategy"]["devices"] == [0, 1]
