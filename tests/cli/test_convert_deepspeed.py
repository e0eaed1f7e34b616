"""`xtune convert` of DeepSpeed ZeRO-2/3 checkpoints written by 2 ranks, then merged: same logits as base + adapter."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from xtune.cli.convert import main as convert
from xtune.cli.merge import main as merge
from xtune.testing.dist import torchrun_command

pytestmark = [pytest.mark.slow, pytest.mark.distributed]
STAGES = {"zero2": [], "zero3": ["--cfg-options", "strategy.param_persistence_threshold=0"]}


@pytest.fixture(scope="module")
def runs(repo, tiny_model_dir, tmp_path_factory) -> Path:
    """One 2-rank torchrun job (tests/strategy/dist_runs.py) training LoRA 3 iterations under ZeRO-2 and ZeRO-3."""
    root = tmp_path_factory.mktemp("ds_convert")
    config = root / "lora.py"
    config.write_text(
        textwrap.dedent(f"""
        _base_ = ["{repo}/configs/demo/tiny_qwen_lora.py"]
        chat_prompts = []
        train_cfg = dict(max_iters=3)
        train_dataloader = dict(batch_size=4)
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=3))
        """)
    )
    plan = [
        {"name": stage, "argv": [str(config), "--launcher", "pytorch", "--work-dir", str(root / stage),
                                 "--deepspeed", stage, *extra]}
        for stage, extra in STAGES.items()
    ]  # fmt: skip
    (root / "plan.json").write_text(json.dumps({"results": str(root), "runs": plan}))
    cmd = torchrun_command(repo / "tests/strategy/dist_runs.py", root / "plan.json")
    done = subprocess.run(cmd, cwd=repo, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    results = [root / f"results_rank{r}.json" for r in (0, 1)]
    codes = [json.loads(p.read_text()) if p.exists() else {} for p in results]
    ok = all(c.get(s, {}).get("code") == 0 for c in codes for s in STAGES)
    assert ok, (codes, (done.stdout + done.stderr)[-4000:])
    return root


@pytest.mark.parametrize("stage", list(STAGES))
def test_sharded_checkpoint_converts_and_merges_to_the_same_model(
    runs, stage, tiny_model_dir, tiny_tokenizer, tmp_path
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    work = runs / stage
    checkpoint = work / "iter_3.pth"  # a DeepSpeed tag directory: one shard per rank
    assert len(list(checkpoint.glob("*optim_states.pt"))) == 2

    adapter = tmp_path / "adapter"
    assert convert([str(checkpoint), "--config", str(runs / "lora.py"), "--out", str(adapter)]) == 0
    converted = load_file(adapter / "adapter_model.safetensors")
    exported = load_file(work / "hf" / "adapter_model.safetensors")  # gathered by the run itself
    assert sorted(converted) == sorted(exported)
    for key, tensor in exported.items():
        assert tensor.numel() > 0, key
        torch.testing.assert_close(converted[key], tensor, rtol=0, atol=0)

    merged = tmp_path / "merged"
    assert (
        merge(
            [
                "--base",
                str(tiny_model_dir),
                "--adapter",
                str(adapter),
                "--out",
                str(merged),
                "--dtype",
                "fp32",
            ]
        )
        == 0
    )
    ids = tiny_tokenizer("<|im_start|>user\nSort the letters.\nc a b<|im_end|>\n", return_tensors="pt")[
        "input_ids"
    ]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        plain = base(input_ids=ids).logits
        expected = PeftModel.from_pretrained(base, str(adapter)).eval()(input_ids=ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged).eval()(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert (expected - plain).abs().max() > 1e-3  # three steps moved the model: the comparison can fail
