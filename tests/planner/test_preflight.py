"""train.py's preflight: a run that cannot fit its declared GPUs stops before any weight loads."""

from __future__ import annotations

import json

import pytest

from xtune.planner.preflight import preflight
from xtune.planner.table import BUILTIN


def write_config(tmp_path, repo, body: str):
    cfg = tmp_path / "cfg.py"
    cfg.write_text(f"_base_ = [{str(repo / 'configs/demo/tiny_qwen_lora.py')!r}]\n{body}")
    return cfg


def test_72b_full_finetune_on_one_24gb_gpu_stops_before_loading(tmp_path, repo, train, capsys):
    # A checkpoint directory with Qwen1.5-72B's config.json and no weights at all: if anything tried to
    # load the model, this run would fail differently.
    model_dir = tmp_path / "Qwen1.5-72B"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(BUILTIN["Qwen1.5-72B"]))
    cfg = write_config(
        tmp_path,
        repo,
        f"model = dict(path={str(model_dir)!r}, adapter=dict(_delete_=True, type='Full'))\n"
        "gpus = dict(count=1, memory='24GB')\n",
    )
    code, work_dir = train(cfg)
    err = capsys.readouterr().err
    assert code == 2
    assert "does not fit its GPUs" in err and "DOES NOT FIT" in err
    assert "weights" in err and "optimizer" in err and "total" in err  # the table
    assert "Alternatives that fit" in err and "1. " in err  # and the best alternative
    assert "--skip-preflight" in err
    assert not work_dir.exists() or not any(work_dir.iterdir())


def test_tiny_run_with_too_little_declared_memory_is_refused(tmp_path, repo, train, capsys, tiny_model_dir):
    cfg = write_config(tmp_path, repo, "gpus = dict(count=1, memory='256MB')\n")
    code, _ = train(cfg)
    assert code == 2
    assert "DOES NOT FIT" in capsys.readouterr().err


@pytest.mark.slow
def test_skip_preflight_trains_anyway(tmp_path, repo, train, capsys, tiny_model_dir):
    cfg = write_config(tmp_path, repo, "gpus = dict(count=1, memory='256MB')\n")
    code, work_dir = train(cfg, "train_cfg.max_iters=2", extra_args=["--skip-preflight"])
    assert code == 0
    assert "DOES NOT FIT" not in capsys.readouterr().err


def test_fitting_declared_gpus_pass_and_no_gpus_skip(tmp_path, repo, tiny_model_dir):
    from xtune.config import load_config

    fits = load_config(write_config(tmp_path, repo, "gpus = dict(count=1, memory='24GB')\n"))
    plan = preflight(fits)
    assert plan is not None and plan.fits
    none_declared = load_config(write_config(tmp_path, repo, ""))
    assert preflight(none_declared) is None  # CPU-only machine, nothing declared: nothing to check


def test_unknown_architecture_skips_rather_than_blocks(tmp_path, repo, capsys):
    from xtune.config import load_config

    cfg = load_config(
        write_config(
            tmp_path, repo, "model = dict(path='someone/new-model')\ngpus = dict(count=1, memory='24GB')\n"
        )
    )
    assert preflight(cfg) is None
    assert "preflight skipped" in capsys.readouterr().err
