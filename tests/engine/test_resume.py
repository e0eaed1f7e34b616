"""A run stopped at iteration k and resumed repeats the uninterrupted run's losses at k+1.. (to 1e-5)."""

from __future__ import annotations

import pytest

from xtune.engine.logs import losses_by_iter

OPTIONS = (
    "train_cfg.max_iters=10",
    "default_hooks.logger.interval=1",
    "default_hooks.checkpoint.interval=5",
    "default_hooks.checkpoint.max_keep_ckpts=3",
    # dropout > 0 makes the losses depend on the RNG stream, which resume must restore too
    "model.adapter.dropout=0.1",
)


@pytest.mark.slow
def test_resume_reproduces_uninterrupted_losses(repo, train, tmp_path):
    config = repo / "configs/demo/tiny_qwen_lora.py"
    code, full_dir = train(config, *OPTIONS, work_dir=tmp_path / "full")
    assert code == 0
    full = losses_by_iter(full_dir)
    assert sorted(full) == list(range(1, 11))

    # "Stop" at k=5: resume a fresh work dir from the uninterrupted run's iteration-5 checkpoint.
    code, resumed_dir = train(
        config, *OPTIONS, work_dir=tmp_path / "resumed", extra_args=["--resume", str(full_dir / "iter_5.pth")]
    )
    assert code == 0
    resumed = losses_by_iter(resumed_dir, run="latest")
    assert sorted(resumed) == list(range(6, 11))
    for step in (6, 7, 8):
        assert resumed[step] == pytest.approx(full[step], abs=1e-5), step
    # And the losses are not trivially equal to each other (the test can fail).
    assert len({round(full[s], 6) for s in (6, 7, 8)}) == 3


@pytest.mark.slow
def test_resume_auto_picks_last_checkpoint_in_work_dir(repo, train, tmp_path):
    config = repo / "configs/demo/tiny_qwen_lora.py"
    work = tmp_path / "auto"
    common = ("default_hooks.logger.interval=1", "default_hooks.checkpoint.interval=5")
    code, _ = train(config, *common, "train_cfg.max_iters=5", work_dir=work)
    assert code == 0
    code, _ = train(config, *common, "train_cfg.max_iters=8", work_dir=work, extra_args=["--resume"])
    assert code == 0
    assert sorted(losses_by_iter(work, run="latest")) == [6, 7, 8]


def test_a_run_never_reuses_the_previous_runs_log_dir(tmp_path):
    import time

    from xtune.engine.runner import wait_for_unused_log_dir

    taken = time.strftime("%Y%m%d_%H%M%S")
    (tmp_path / taken).mkdir()
    wait_for_unused_log_dir(str(tmp_path))
    assert time.strftime("%Y%m%d_%H%M%S") != taken
