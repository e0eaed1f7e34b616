"""`xtune train --dry-run`: save, resume, convert and evaluate in seconds, away from the real run."""

from __future__ import annotations

import json

import pytest
import torch

pytestmark = pytest.mark.slow


def test_dry_run_exercises_save_resume_convert_and_eval(repo, train, tmp_path, capsys):
    code, work = train(repo / "configs/demo/tiny_qwen_lora.py", extra_args=["--dry-run"])
    assert code == 0
    root = work / "dry_run"
    # save: a complete checkpoint of iteration 2 ...
    checkpoint = torch.load(root / "iter_2.pth", map_location="cpu", weights_only=True)
    assert checkpoint["meta"]["iter"] == 2 and checkpoint["state_dict"]
    # ... resume: the second run started from it and trained iteration 3 only
    runs = sorted(root.glob("*/vis_data/scalars.json"))
    assert len(runs) == 2
    assert [json.loads(line)["iter"] for line in runs[1].read_text().splitlines()] == [3]
    assert (root / "last_checkpoint").read_text() == str(root / "iter_3.pth")
    # convert: the checkpoint became a PEFT adapter; the end-of-run export ran too
    assert (root / "converted" / "adapter_model.safetensors").is_file()
    assert (root / "hf" / "adapter_model.safetensors").is_file()
    # eval: the demo's chat prompts were answered (short replies) before and after training
    rows = [json.loads(line) for line in (root / "eval_chat.jsonl").read_text().splitlines()]
    assert {r["prompt"] for r in rows} == {"Reverse the letters.\nc a b", "Add the numbers.\n12 + 7"}
    assert {r["iter"] for r in rows} >= {0, 2} and all(r["new_tokens"] <= 16 for r in rows)
    out = capsys.readouterr().out
    assert "dry run OK" in out and "resume:  continued at iteration 3" in out
    # the real work dir holds no checkpoint of the dry run
    assert not list(work.glob("iter_*.pth")) and not (work / "last_checkpoint").exists()
