"""Plans and recommendations for the seed scenarios, from configs and from a model + method."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xtune.errors import ConfigError
from xtune.planner import make_plan, parse_gpus, scenario_for_model, scenario_from_config
from xtune.planner.split import MemorySplit, split_for
from xtune.planner.units import GiB


def plan_for(model, method, gpus, strategy=None, **kw):
    return make_plan(scenario_for_model(model, method, parse_gpus(gpus), strategy, **kw))


def test_14b_qlora_fits_two_24gb_gpus_with_zero2():
    plan = plan_for("Qwen/Qwen1.5-14B-Chat", "qlora", "2x24GB", "zero2")
    assert plan.fits and plan.strategy == "zero2"
    assert 15 * GiB < plan.estimate.total < 24 * GiB
    assert all(rec.fits and rec.per_gpu_total_bytes <= 24 * GiB and rec.why for rec in plan.recommendations)


def test_72b_qlora_fits_one_80gb_gpu_and_not_one_24gb():
    assert plan_for("Qwen/Qwen1.5-72B-Chat", "qlora", "1x80GB").fits
    small = plan_for("Qwen/Qwen1.5-72B-Chat", "qlora", "1x24GB")
    assert not small.fits
    # 4-bit 72B weights alone (~43 GiB with fp32 embeddings) exceed a 24 GB card: the way out is
    # sharding them over several cards or offloading them.
    assert small.recommendations
    assert all(rec.gpus > 1 or "offload" in rec.strategy for rec in small.recommendations)


def test_72b_lora_on_a_24gb_cluster_needs_zero3():
    plan = plan_for("Qwen/Qwen1.5-72B-Chat", "lora", "8x24GB")
    assert plan.strategy == "ddp" and not plan.fits  # a full 16-bit replica per GPU
    assert plan.estimate.per_gpu["weights"] > 130 * GiB
    lora = {rec.strategy: rec for rec in plan.recommendations if rec.method == "lora"}
    assert "zero3" in lora and lora["zero3"].gpus == 16
    # on the 8 GPUs the user has, QLoRA under ZeRO-3 fits and ranks before buying GPUs
    first_on_hand = next(rec for rec in plan.recommendations if rec.gpus <= 8 and rec.strategy == "zero3")
    assert first_on_hand.method == "qlora"
    assert plan.recommendations.index(first_on_hand) < plan.recommendations.index(lora["zero3"])


def test_alternatives_on_the_users_gpus_come_before_buying_more():
    plan = plan_for("Qwen/Qwen1.5-32B-Chat", "lora", "4x24GB")
    gpus = [rec.gpus for rec in plan.recommendations]
    assert gpus == sorted(gpus, key=lambda n: n > 4)


def test_cpu_ram_limit_rules_out_large_offloads():
    plan = plan_for("Qwen/Qwen1.5-72B-Chat", "lora", "8x24GB", cpu_ram=64 * GiB)
    assert all(rec.cpu_bytes <= 64 * GiB for rec in plan.recommendations)
    unlimited = plan_for("Qwen/Qwen1.5-72B-Chat", "lora", "8x24GB")
    assert any(rec.cpu_bytes > 64 * GiB for rec in unlimited.recommendations)


def test_gradient_checkpointing_is_recommended_when_off():
    plan = plan_for("Qwen/Qwen1.5-7B-Chat", "lora", "1x24GB", seq_len=4096, gradient_checkpointing=False)
    assert not plan.fits
    assert plan.recommendations[0].method == "lora"
    assert "gradient checkpointing on" in plan.recommendations[0].changes


def test_config_scenario_reads_model_strategy_and_data(tmp_path):
    from xtune.config import load_config

    cfg_file = tmp_path / "cfg.py"
    cfg_file.write_text(
        "model = dict(type='SupervisedFinetune', path='Qwen/Qwen1.5-14B-Chat',\n"
        "             quantizer=dict(type='BnB4bit'), adapter=dict(type='LoRA', r=16),\n"
        "             loss=dict(type='ChunkedCrossEntropy', chunk_size=512))\n"
        "strategy = dict(type='DeepSpeed', stage=3)\n"
        "gpus = dict(count=4, memory='24GB')\n"
        "train_dataloader = dict(batch_size=2, dataset=dict(type='SFTDataset', max_length=4096))\n"
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-4))\n"
    )
    scn = scenario_from_config(load_config(cfg_file))
    assert (scn.gpus.count, scn.gpus.bytes_each) == (4, 24 * GiB)
    assert (scn.workload.seq_len, scn.workload.micro_batch, scn.workload.loss_chunk) == (4096, 2, 512)
    assert scn.workload.gradient_checkpointing  # quantized base: on by default, as SupervisedFinetune does
    assert scn.method == "qlora" and scn.adapter.r == 16
    plan = make_plan(scn)
    assert plan.strategy == "zero3" and plan.estimate.split.world_size == 4
    override = make_plan(scenario_from_config(load_config(cfg_file), strategy="ddp", seq_len=1024))
    assert override.strategy == "ddp" and override.scenario.workload.seq_len == 1024


def test_config_without_gpus_asks_for_them(tmp_path):
    from xtune.config import load_config

    cfg_file = tmp_path / "cfg.py"
    cfg_file.write_text("model = dict(type='SupervisedFinetune', path='Qwen/Qwen1.5-7B')\n")
    with pytest.raises(ConfigError, match="--gpus"):
        scenario_from_config(load_config(cfg_file))


def test_strategies_answer_the_protocol_or_are_priced_by_name():
    from xtune.planner.components import build_strategy

    assert split_for(build_strategy(dict(type="Single")), 4) == MemorySplit.single()
    assert split_for(dict(type="DDP"), 4).params == 1.0
    z3 = split_for(dict(type="DeepSpeed", stage=3, offload_params=True, offload_optimizer=True), 4)
    assert (z3.label, z3.params, z3.offload_optimizer) == ("zero3_offload", 0.25, True)
    params_only = split_for(dict(type="DeepSpeed", stage=3, offload_params=True), 4)
    assert (params_only.label, params_only.offload_params, params_only.offload_optimizer) == (
        "zero3_offload_params",
        True,
        False,
    )
    assert split_for(dict(type="ModelParallel"), 2).activations == 0.5
    with pytest.raises(ConfigError, match="memory_split"):
        split_for(dict(type="Pipeline"), 2)


def test_planning_imports_no_torch():
    code = (
        "import sys\n"
        "from xtune.planner import make_plan, parse_gpus, scenario_for_model\n"
        "plan = make_plan(scenario_for_model('Qwen/Qwen1.5-72B-Chat', 'qlora', parse_gpus('8x24GB'), 'zero3'))\n"
        "assert plan.fits\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'bitsandbytes', 'deepspeed') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_custom_components_from_custom_imports_are_priced(tmp_path, monkeypatch):
    from xtune.config import load_config

    (tmp_path / "my_adapter.py").write_text(
        "from xtune.registry import ADAPTERS\n"
        "@ADAPTERS.register_module()\n"
        "class HeadOnly:\n"
        "    trains_base = False\n"
        "    def __init__(self) -> None:\n"
        "        pass\n"
        "    def trainable_params(self, arch):\n"
        "        return arch['vocab_size'] * arch['hidden_size']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg_file = tmp_path / "cfg.py"
    cfg_file.write_text(
        "custom_imports = dict(imports=['my_adapter'])\n"
        "model = dict(type='SupervisedFinetune', path='Qwen/Qwen1.5-7B', adapter=dict(type='HeadOnly'))\n"
        "gpus = '1x80GB'\n"
    )
    plan = make_plan(scenario_from_config(load_config(cfg_file)))
    assert plan.estimate.trainable == 151936 * 4096
    assert plan.scenario.method == "headonly"
