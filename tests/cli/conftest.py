"""A briefly trained demo run shared by the convert/merge/chat tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

DEMO_ITERS = 60


@pytest.fixture(scope="session")
def demo_run(repo, tiny_model_dir, tmp_path_factory) -> Path:
    """Work dir of the demo LoRA config trained for 60 iterations: ``iter_60.pth`` and the ``hf/`` adapter.

    60 iterations are enough for the tiny model to answer in the demo's format and close its turn
    with ``<|im_end|>``.
    """
    from xtune.cli.train import main

    work = tmp_path_factory.mktemp("demo_run")
    argv = [str(repo / "configs/demo/tiny_qwen_lora.py"), "--work-dir", str(work), "--cfg-options",
            f"train_cfg.max_iters={DEMO_ITERS}", f"default_hooks.checkpoint.interval={DEMO_ITERS}",
            "chat_prompts=[]"]  # fmt: skip
    assert main(argv) == 0
    return work
