"""Shared fixtures: the embedded tiny model (built once per machine into .cache/), a training runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("XTUNE_CACHE", str(REPO / ".cache" / "xtune"))
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
# The test models are tiny: one thread per process avoids oversubscribing 2 cores (3x faster here), and
# 2-rank distributed tests then use one core each. Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
DEMO_CONFIG = REPO / "configs" / "demo" / "tiny_qwen_lora.py"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """Local directory of the embedded tiny Qwen2 model and tokenizer."""
    from xtune.testing import materialize_tiny

    return materialize_tiny()


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture
def train(tmp_path):
    """``train(config, *cfg_options, work_dir=None, extra_args=())`` runs ``xtune train`` in-process.

    Returns ``(exit_code, work_dir)``; read losses with ``xtune.engine.logs.losses_by_iter(work_dir)``.
    """
    from xtune.cli.train import main

    def run(config, *cfg_options: str, work_dir: Path | None = None, extra_args=()):
        work_dir = work_dir or tmp_path / "work"
        argv = [str(config), "--work-dir", str(work_dir), *extra_args]
        if cfg_options:
            argv += ["--cfg-options", *cfg_options]
        return main(argv), work_dir

    return run
