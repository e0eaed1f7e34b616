"""``tools/dist_train.sh``: the torchrun wrapper a user types, end to end on 2 CPU ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from xtune.engine.logs import losses_by_iter
from xtune.testing.dist import free_port


@pytest.mark.slow
@pytest.mark.distributed
def test_dist_train_sh_runs_ddp_on_two_ranks(repo, tiny_model_dir, tmp_path):
    port = free_port()
    work = tmp_path / "work"
    env = dict(os.environ, PYTHON=sys.executable, MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    cmd = ["bash", str(repo / "tools/dist_train.sh"), str(repo / "configs/demo/tiny_qwen_lora.py"), "2",
           "--work-dir", str(work), "--cfg-options", "strategy.type=DDP", "train_cfg.max_iters=2",
           "default_hooks.logger.interval=1", "chat_prompts=[]"]  # fmt: skip
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = [json.loads((work / f"model_states_rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"], r["strategy"]) for r in reports] == [(0, 2, "DDP"), (1, 2, "DDP")]
    assert sorted(losses_by_iter(work)) == [1, 2]
    assert (work / "hf" / "adapter_model.safetensors").is_file()
