"""ChunkedCrossEntropy under DeepSpeed ZeRO-3 on 2 CPU ranks: the head's weights are partitioned.

Ranks hold different numbers of trained tokens, so a loss that gathered the head per chunk would call
the gather collective a different number of times on each rank and hang. The loss must gather once and
give the same losses as CrossEntropy, for a frozen head (LoRA) and a trained one (``modules_to_save``).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from xtune.engine.logs import losses_by_iter
from xtune.testing.dist import torchrun_command

pytestmark = [pytest.mark.slow, pytest.mark.distributed]

CONFIG = """
_base_ = ["{demo}"]
chat_prompts = []
train_cfg = dict(max_iters=3)
train_dataloader = dict(batch_size=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=100))
model = dict(adapter=dict(modules_to_save={modules_to_save}), loss={loss})
"""
WORKER = """
import json, os, sys
from xtune.cli.train import main
codes = {name: main(argv) for name, argv in json.load(open(sys.argv[1])).items()}
with open(os.path.join(os.path.dirname(sys.argv[1]), f"codes_{os.environ['RANK']}.json"), "w") as f:
    json.dump(codes, f)
"""
LOSSES = {"naive": "dict(type='CrossEntropy')", "chunked": "dict(type='ChunkedCrossEntropy', chunk_size=16)"}
HEADS = {"frozen_head": None, "trained_head": ["lm_head"]}


@pytest.fixture(scope="module")
def zero3_runs(repo, tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("zero3_loss")
    plan = {}
    for head, modules_to_save in HEADS.items():
        for loss_name, loss in LOSSES.items():
            name = f"{head}_{loss_name}"
            config = root / f"{name}.py"
            demo = repo / "configs/demo/tiny_qwen_lora.py"
            config.write_text(CONFIG.format(demo=demo, modules_to_save=modules_to_save, loss=loss))
            plan[name] = [str(config), "--launcher", "pytorch", "--work-dir", str(root / name),
                          "--deepspeed", "zero3", "--cfg-options", "strategy.param_persistence_threshold=0"]  # fmt: skip
    (root / "plan.json").write_text(json.dumps(plan))
    (root / "worker.py").write_text(WORKER)
    cmd = torchrun_command(root / "worker.py", root / "plan.json")
    with open(root / "torchrun.log", "w") as log:
        done = subprocess.run(cmd, cwd=repo, env=dict(os.environ, OMP_NUM_THREADS="1"), stdout=log,
                              stderr=subprocess.STDOUT, timeout=300)  # fmt: skip
    codes = [
        json.loads((root / f"codes_{r}.json").read_text())
        for r in (0, 1)
        if (root / f"codes_{r}.json").exists()
    ]
    if done.returncode != 0 or len(codes) != 2 or any(set(c.values()) != {0} for c in codes):
        pytest.fail(
            f"torchrun failed ({done.returncode}, {codes}):\n{(root / 'torchrun.log').read_text()[-4000:]}"
        )
    return root


@pytest.mark.parametrize("head", list(HEADS))
def test_chunked_loss_matches_naive_under_zero3(zero3_runs, head):
    naive = losses_by_iter(zero3_runs / f"{head}_naive")
    chunked = losses_by_iter(zero3_runs / f"{head}_chunked")
    assert sorted(naive) == sorted(chunked) == [1, 2, 3]
    for step in naive:
        assert abs(naive[step] - chunked[step]) < 1e-4, (step, naive, chunked)
    assert chunked[3] < chunked[1]
