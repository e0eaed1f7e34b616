"""DDP, ZeRO-2 and ZeRO-3 on 2 gloo CPU ranks: training, model-state reports, resume, HF export.

One torchrun job (``dist_runs.py``) runs every training of this module in sequence, through the same
``xtune train ... --launcher pytorch`` entry point a user calls, so the 2-process start-up and DeepSpeed's
communication setup are paid once. The tests then read what the runs left in their work dirs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from xtune.engine.logs import losses_by_iter
from xtune.testing.dist import torchrun_command

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

ITERS, CKPT = 6, 3
CONFIG = """
_base_ = ["{demo}"]
chat_prompts = []
train_cfg = dict(max_iters={iters})
train_dataloader = dict(batch_size=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={ckpt}, max_keep_ckpts=-1))
{extra}
"""
FULL = "model = dict(adapter=dict(_delete_=True, type='Full'))"
QLORA = "model = dict(quantizer=dict(type='BnB4bit'))"
# Tiny layers stay whole under ZeRO-3 below DeepSpeed's persistence threshold (1e5 elements).
ZERO3 = ["--cfg-options", "strategy.param_persistence_threshold=0"]

# name: (config extra, strategy argv, resume from (run, step) or None)
RUNS = {
    "ddp_lora": ("", ["--cfg-options", "strategy.type=DDP"], None),
    "ddp_full": (FULL, ["--cfg-options", "strategy.type=DDP"], None),
    "ddp_qlora": (QLORA, ["--cfg-options", "strategy.type=DDP"], None),
    "ddp_lora_resumed": ("", ["--cfg-options", "strategy.type=DDP"], "ddp_lora"),
    "zero2_lora": ("", ["--deepspeed", "zero2"], None),
    "zero2_full": (FULL, ["--deepspeed", "zero2"], None),
    "zero2_qlora": (QLORA, ["--deepspeed", "zero2"], None),
    "zero2_full_resumed": (FULL, ["--deepspeed", "zero2"], "zero2_full"),
    "zero3_lora": ("", ["--deepspeed", "zero3", *ZERO3], None),
    "zero3_full": (FULL, ["--deepspeed", "zero3", *ZERO3], None),
    "zero3_qlora": (QLORA, ["--deepspeed", "zero3", *ZERO3], None),
    "zero3_lora_resumed": ("", ["--deepspeed", "zero3", *ZERO3], "zero3_lora"),
    "zero3_full_resumed": (FULL, ["--deepspeed", "zero3", *ZERO3], "zero3_full"),
    # the one run that builds DeepSpeed's CPU Adam (~40 s of g++ once per TORCH_EXTENSIONS_DIR)
    "zero3_offload_lora": ("", ["--deepspeed", "zero3_offload", *ZERO3], None),
}


@pytest.fixture(scope="module")
def runs(repo, tiny_model_dir, tmp_path_factory) -> Path:
    """Launch every run of :data:`RUNS` in one 2-rank torchrun job; returns the directory holding them."""
    root = tmp_path_factory.mktemp("dist")
    plan = []
    for name, (extra, strategy_args, resume_from) in RUNS.items():
        config = root / f"{name}.py"
        config.write_text(
            CONFIG.format(demo=repo / "configs/demo/tiny_qwen_lora.py", iters=ITERS, ckpt=CKPT, extra=extra)
        )
        argv = [str(config), "--launcher", "pytorch", "--work-dir", str(root / name), *strategy_args]
        if resume_from:
            argv += ["--resume", str(root / resume_from / f"iter_{CKPT}.pth")]
        plan.append({"name": name, "argv": argv})
    plan_file = root / "plan.json"
    plan_file.write_text(json.dumps({"results": str(root), "runs": plan}))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = torchrun_command(repo / "tests/strategy/dist_runs.py", plan_file)
    with open(root / "torchrun.log", "w") as log:
        subprocess.run(cmd, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1500)
    return root


def _result(runs: Path, name: str) -> int:
    results = [json.loads((runs / f"results_rank{r}.json").read_text()) for r in (0, 1)
               if (runs / f"results_rank{r}.json").exists()]  # fmt: skip
    codes = {res.get(name, {}).get("code") for res in results}
    if codes != {0} or len(results) != 2:
        tail = (runs / "torchrun.log").read_text()[-6000:]
        pytest.fail(f"run {name} did not finish on both ranks: {codes}\n{tail}")
    return 0


def _report(runs: Path, name: str, rank: int = 0) -> dict:
    _result(runs, name)
    return json.loads((runs / name / f"model_states_rank{rank}.json").read_text())


def _whole_model_bytes(repo) -> int:
    """Bytes of every parameter of the demo LoRA model, built here in one process (fp32 on CPU)."""
    from xtune.config import load_config
    from xtune.registry import MODELS

    cfg = load_config(str(repo / "configs/demo/tiny_qwen_lora.py"))
    model = MODELS.build(dict(cfg.model))
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize(
    "name",
    [
        "ddp_lora",
        "ddp_full",
        "ddp_qlora",
        "zero2_lora",
        "zero2_full",
        "zero2_qlora",
        "zero3_lora",
        "zero3_full",
        "zero3_qlora",
        "zero3_offload_lora",
    ],  # fmt: skip
)
def test_trains_with_falling_loss(runs, name):
    _result(runs, name)
    losses = losses_by_iter(runs / name)
    assert sorted(losses) == list(range(1, ITERS + 1))
    first, last = losses[1], (losses[ITERS] + losses[ITERS - 1]) / 2
    assert last < 0.92 * first, (name, losses)


def test_reports_name_the_strategy_and_both_ranks(runs):
    expected = {
        "ddp_lora": "DDP",
        "zero2_lora": "DeepSpeed(stage=2)",
        "zero3_lora": "DeepSpeed(stage=3)",
        "zero3_offload_lora": "DeepSpeed(stage=3, offload_optimizer=True, offload_params=True)",
    }
    for name, strategy in expected.items():
        for rank in (0, 1):
            report = _report(runs, name, rank)
            assert (report["rank"], report["world_size"], report["strategy"]) == (rank, 2, strategy)


def test_ddp_replicates_the_whole_model_and_zero3_halves_it(runs, repo):
    whole = _whole_model_bytes(repo)
    ddp = [_report(runs, "ddp_lora", r) for r in (0, 1)]
    assert [r["param_bytes"] for r in ddp] == [whole, whole]
    # ZeRO-3: each rank keeps its half of every weight (within 10% plus one decoder layer).
    layer = whole // 6  # 4 decoder layers + embeddings + head; an upper bound on one layer's share
    for rank in (0, 1):
        zero3 = _report(runs, "zero3_lora", rank)["param_bytes"]
        assert abs(zero3 - whole / 2) <= 0.1 * whole / 2 + layer, (zero3, whole)
        assert zero3 < 0.6 * whole
    # ZeRO-2 keeps the whole model on every rank, like DDP.
    assert _report(runs, "zero2_lora")["param_bytes"] == whole


def test_zero2_halves_optimizer_states_and_gradients_of_full_finetuning(runs):
    ddp = _report(runs, "ddp_full")
    for rank in (0, 1):
        zero2 = _report(runs, "zero2_full", rank)
        assert zero2["optimizer_bytes"] == pytest.approx(ddp["optimizer_bytes"] / 2, rel=0.02)
        assert zero2["grad_bytes"] == pytest.approx(ddp["grad_bytes"] / 2, rel=0.02)
        # DeepSpeed also keeps an fp32 master copy of the rank's share of the weights
        assert zero2["master_param_bytes"] == pytest.approx(ddp["param_bytes"] / 2, rel=0.02)
    assert ddp["optimizer_bytes"] == pytest.approx(2 * ddp["param_bytes"], rel=0.01)  # Adam: m and v


def test_qlora_base_is_replicated_under_ddp_and_zero2_and_sharded_under_zero3(runs):
    ddp, zero2, zero3 = (_report(runs, n) for n in ("ddp_qlora", "zero2_qlora", "zero3_qlora"))
    lora = _report(runs, "ddp_lora")
    assert ddp["param_bytes"] == zero2["param_bytes"] < 0.7 * lora["param_bytes"]  # a 4-bit base
    assert zero3["param_bytes"] < 0.6 * zero2["param_bytes"]


@pytest.mark.parametrize(
    ("resumed", "uninterrupted"),
    [
        ("ddp_lora_resumed", "ddp_lora"),
        ("zero2_full_resumed", "zero2_full"),
        ("zero3_lora_resumed", "zero3_lora"),
        ("zero3_full_resumed", "zero3_full"),
    ],  # fmt: skip
)
def test_resume_reproduces_uninterrupted_losses(runs, resumed, uninterrupted):
    _result(runs, resumed)
    full = losses_by_iter(runs / uninterrupted)
    again = losses_by_iter(runs / resumed, run="latest")
    assert sorted(again) == list(range(CKPT + 1, ITERS + 1))
    for step in again:
        assert again[step] == pytest.approx(full[step], abs=1e-5), (step, again, full)
    assert len({round(full[s], 5) for s in again}) == len(again)  # distinct losses: the check can fail


def test_zero3_checkpoint_consolidates_with_zero_to_fp32_and_matches_hf_export(runs):
    """The HF export gathers ZeRO-3 shards; DeepSpeed's own tool reads the same weights from the checkpoint."""
    import torch
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    from safetensors.torch import load_file

    _result(runs, "zero3_full")
    consolidated = get_fp32_state_dict_from_zero_checkpoint(str(runs / "zero3_full"), tag=f"iter_{ITERS}.pth")
    exported = load_file(runs / "zero3_full" / "hf" / "model.safetensors")
    assert exported, "empty export"
    for key, tensor in exported.items():
        assert tensor.numel() > 0, key
        torch.testing.assert_close(tensor, consolidated[f"llm.{key}"], rtol=0, atol=0)

    adapter = load_file(runs / "zero3_lora" / "hf" / "adapter_model.safetensors")
    lora_ckpt = get_fp32_state_dict_from_zero_checkpoint(str(runs / "zero3_lora"), tag=f"iter_{ITERS}.pth")
    assert adapter and all(t.numel() > 0 for t in adapter.values())
    assert sum(t.numel() for t in adapter.values()) == sum(t.numel() for t in lora_ckpt.values())


def test_zero3_loads_the_16bit_base_partitioned_and_the_4bit_base_whole(runs):
    """transformers creates the weights inside zero.Init under ZeRO-3, except for quantized models."""
    import re

    def sharded_at_load(name: str) -> tuple[int, int]:
        _result(runs, name)
        log = next((runs / name).glob("*/*.log")).read_text()
        found = re.search(r"ZeRO-3: (\d+) of (\d+) weights were created partitioned", log)
        assert found, name
        return int(found.group(1)), int(found.group(2))

    lora_sharded, lora_total = sharded_at_load("zero3_lora")
    assert 0 < lora_sharded < lora_total  # the base; peft adds the adapters afterwards
    assert sharded_at_load("zero3_full")[0] == sharded_at_load("zero3_full")[1]
    assert sharded_at_load("zero3_qlora")[0] == 0
