"""The Qwen1.5 config family: every leaf parses and validates, sizes differ only where they must, and a leaf
pointed at the tiny model trains while the real 14B id fails fast without weights."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from xtune.config import load_config, validate_config

REPO = Path(__file__).resolve().parents[2]
SIZES = ["0_5b", "1_8b", "4b", "7b", "14b", "32b", "72b", "110b"]
METHODS = ["qlora", "lora", "full"]
LEAVES = sorted(REPO.glob("configs/qwen1_5_*.py"))
HUB = {"0_5b": "0.5B", "1_8b": "1.8B"}


def test_the_family_is_complete():
    assert {p.name for p in LEAVES} == {f"qwen1_5_{s}_{m}.py" for s in SIZES for m in METHODS}


@pytest.mark.parametrize("path", LEAVES, ids=lambda p: p.stem)
def test_every_leaf_parses_validates_and_names_its_model(path):
    cfg = load_config(path)
    validate_config(cfg)
    size, method = re.match(r"qwen1_5_(\w+?)_(qlora|lora|full)$", path.stem).groups()
    assert cfg.model.path == f"Qwen/Qwen1.5-{HUB.get(size, size.upper())}-Chat"
    quantizer, adapter = cfg.model.quantizer["type"], cfg.model.adapter["type"]
    assert (quantizer, adapter) == {"qlora": ("BnB4bit", "LoRA"), "lora": ("NoQuant", "LoRA"),
                                    "full": ("NoQuant", "Full")}[method]  # fmt: skip
    header = path.read_text().split("_base_")[0]
    assert "GB" in header and f"xtune plan configs/{path.name}" in header  # a hardware recommendation


@pytest.mark.parametrize("method", METHODS)
def test_sizes_of_one_method_differ_only_in_what_must(method):
    small, large = (REPO / f"configs/qwen1_5_{s}_{method}.py" for s in ("14b", "72b"))

    def code(path):
        return [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]

    changed = [
        line
        for line in difflib.unified_diff(code(small), code(large), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    # The model id; for LoRA/QLoRA the learning rate the QLoRA scripts use from 33B up; and ZeRO-3 where no
    # single GPU holds the run (72B LoRA; full fine-tuning sets it from 7B, so both sizes have it).
    expected = {"qlora": 3, "lora": 4, "full": 2}[method]
    assert len(changed) == expected, changed
    allowed = ("model = dict(path=", "lr=1e-4", 'strategy = dict(type="DeepSpeed", stage=3)')
    assert all(any(a in line for a in allowed) for line in changed), changed


def test_14b_and_72b_qlora_files_differ_by_a_few_lines():
    a, b = ((REPO / f"configs/qwen1_5_{s}_qlora.py").read_text().splitlines() for s in ("14b", "72b"))
    matcher = difflib.SequenceMatcher(a=a, b=b)
    differing = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    assert differing <= 7  # header recommendation (3), two command lines naming the file, model id, lr


def test_14b_without_weights_fails_fast(repo, train, capsys, monkeypatch, tmp_path):
    import transformers

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    monkeypatch.setattr("xtune.hub.hub_reachable", lambda timeout=2.0: False)
    loads = []
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: loads.append(a))
    code, _ = train(repo / "configs/qwen1_5_14b_qlora.py")
    err = capsys.readouterr().err
    assert code == 2 and loads == []
    assert "cannot reach the model `Qwen/Qwen1.5-14B-Chat`" in err
    assert "pass a local path via --cfg-options model.path=DIR" in err


@pytest.mark.slow
@pytest.mark.parametrize(
    "leaf", ["qwen1_5_14b_qlora", "qwen1_5_14b_lora", "qwen1_5_4b_full"]
)  # 14B full: ZeRO-3
def test_a_leaf_pointed_at_the_tiny_model_trains(repo, train, tmp_path, leaf):
    from xtune.engine.logs import losses_by_iter

    code, work_dir = train(
        repo / f"configs/{leaf}.py",
        "model.path=embedded:tiny-qwen2",
        "train_dataloader.dataset.path=data/demo/train.jsonl",
        "train_dataloader.dataset.max_length=256",
        "train_dataloader.batch_size=8",
        "train_dataloader.num_workers=0",
        "optim_wrapper.accumulative_counts=1",
        "optim_wrapper.optimizer.lr=3e-3",
        "train_cfg.max_iters=30",
        "param_scheduler.0.end=5",
        "param_scheduler.1.begin=5",
        "default_hooks.logger.interval=1",
        "default_hooks.checkpoint.interval=30",
        "chat_prompts=[]",
        work_dir=tmp_path / leaf,
    )
    assert code == 0
    losses = [loss for _, loss in sorted(losses_by_iter(work_dir).items())]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    # The tiny model is random, and the family's adapters leave its random output head frozen, so the
    # (Q)LoRA runs fall slowly in 30 steps; what matters here is that the real configs' pieces train.
    print(f"{leaf} on the tiny model: loss {first:.3f} -> {last:.3f}")
    assert len(losses) == 30 and last < 0.92 * first, (first, last)
