"""Crash safety end to end: SIGTERM saves and stops cleanly, SIGKILL during a save loses nothing complete.

Each test drives real `xtune train` subprocesses. Timing never decides the outcome: the child pauses
(or hangs inside the checkpoint writer) at a chosen point and signals readiness with a marker file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from xtune.engine.checkpoint import is_complete, last_complete_checkpoint
from xtune.engine.logs import losses_by_iter

PAUSE_HOOK = '''
import os
import time

from mmengine.hooks import Hook

from xtune.registry import HOOKS


@HOOKS.register_module()
class PauseForSignalHook(Hook):
    """Test helper: before iteration `at`, touch $XT_PAUSE_MARKER and wait until a signal is pending."""

    priority = "VERY_HIGH"

    def __init__(self, at: int = 0) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        marker = os.environ.get("XT_PAUSE_MARKER")
        if not marker or runner.iter != self.at:
            return
        saver = next(h for h in runner.hooks if type(h).__name__ == "SafeCheckpointHook")
        open(marker, "w").close()
        deadline = time.time() + 300
        while saver.pending_signal is None and time.time() < deadline:
            time.sleep(0.02)
'''

HANGING_WRITER = '''
"""Run `xtune train`, but hang half-way through writing the N-th checkpoint ($XT_HANG_ON_SAVE)."""
import os
import sys
import time

from mmengine.fileio.backends import LocalBackend

original_put = LocalBackend.put
saves = []


def put(self, obj, filepath):
    if str(filepath).endswith(".pth.tmp"):
        saves.append(filepath)
        if len(saves) == int(os.environ["XT_HANG_ON_SAVE"]):
            with open(filepath, "wb") as f:
                f.write(obj[: len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            open(os.environ["XT_HANG_MARKER"], "w").close()
            while True:
                time.sleep(1)
    return original_put(self, obj, filepath)


LocalBackend.put = put

from xtune.cli.train import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
'''


def _env(tmp_path: Path, **extra: str) -> dict:
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    )
    env.update(extra)
    return env


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(
                f"child exited with {proc.returncode} before reaching the marker:\n{out}\n{err[-3000:]}"
            )
        if time.time() > deadline:
            proc.kill()
            pytest.fail("child never reached the marker")
        time.sleep(0.05)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.mark.slow
def test_sigterm_saves_stops_and_resume_repeats_uninterrupted_losses(repo, tmp_path, tiny_model_dir):
    (tmp_path / "xt_pause_hooks.py").write_text(PAUSE_HOOK)
    config = tmp_path / "preempt.py"
    config.write_text(
        textwrap.dedent(f"""
        _base_ = ["{repo}/configs/demo/tiny_qwen_lora.py"]
        custom_imports = dict(imports=["xt_pause_hooks"], allow_failed_imports=False)
        custom_hooks = _base_.custom_hooks + [dict(type="PauseForSignalHook", at=6)]
        chat_prompts = []
        train_cfg = dict(max_iters=14)
        model = dict(adapter=dict(dropout=0.1))  # the losses depend on the dropout RNG stream too
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=100))
        """)
    )
    train = [sys.executable, str(repo / "tools/train.py"), str(config), "--work-dir"]
    marker = tmp_path / "paused"
    full = subprocess.Popen([*train, str(tmp_path / "full")], env=_env(tmp_path), cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    work = tmp_path / "preempted"
    child = subprocess.Popen([*train, str(work)], env=_env(tmp_path, XT_PAUSE_MARKER=str(marker)), cwd=repo,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    _wait_for(marker, child)
    child.send_signal(signal.SIGTERM)
    code, out, err = _finish(child)
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "stopped by signal 15; continue with --resume" in out
    assert "SIGTERM received: saving a checkpoint at 7 iterations" in out + err
    # the checkpoint of the iteration in flight, the pointer to it, and no end-of-training export
    assert last_complete_checkpoint(work) == str(work / "iter_7.pth")
    assert (work / "last_checkpoint").read_text() == str(work / "iter_7.pth")
    assert not (work / "hf").exists()
    assert sorted(losses_by_iter(work)) == list(range(1, 8))

    code, _, err = _finish(subprocess.Popen([*train, str(work), "--resume"], env=_env(tmp_path), cwd=repo,
                                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
    assert code == 0, err[-3000:]
    assert sorted(losses_by_iter(work, run="latest")) == list(range(8, 15))
    code, _, err = _finish(full)
    assert code == 0, err[-3000:]
    expected, resumed = losses_by_iter(tmp_path / "full"), losses_by_iter(work)
    assert sorted(expected) == sorted(resumed) == list(range(1, 15))
    for step in expected:
        assert resumed[step] == pytest.approx(expected[step], abs=1e-5), step
    assert len({round(v, 4) for v in expected.values()}) > 10  # real, changing losses


@pytest.mark.slow
def test_sigkill_during_save_keeps_previous_checkpoint_loadable(repo, tmp_path, tiny_model_dir, train):
    (tmp_path / "hang_in_save.py").write_text(HANGING_WRITER)
    work = tmp_path / "killed"
    options = [
        "train_cfg.max_iters=9",
        "default_hooks.logger.interval=1",
        "default_hooks.checkpoint.interval=3",
        "default_hooks.checkpoint.max_keep_ckpts=1",  # mmengine would delete iter_3 before writing iter_6
        "chat_prompts=[]",
    ]
    marker = tmp_path / "hanging"
    args = [str(repo / "configs/demo/tiny_qwen_lora.py"), "--work-dir", str(work), "--cfg-options", *options]
    child = subprocess.Popen(
        [sys.executable, str(tmp_path / "hang_in_save.py"), *args],
        env=_env(tmp_path, XT_HANG_ON_SAVE="2", XT_HANG_MARKER=str(marker)),
        cwd=repo,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(marker, child)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)

    partial = work / ".iter_6.pth.tmp"
    assert partial.exists() and not is_complete(partial)
    assert not (work / "iter_6.pth").exists()
    assert (work / "last_checkpoint").read_text() == str(work / "iter_3.pth")
    assert last_complete_checkpoint(work) == str(work / "iter_3.pth")
    previous = torch.load(work / "iter_3.pth", map_location="cpu", weights_only=True)
    assert previous["meta"]["iter"] == 3 and previous["state_dict"]

    code, _ = train(repo / "configs/demo/tiny_qwen_lora.py", *options, work_dir=work, extra_args=["--resume"])
    assert code == 0
    assert sorted(losses_by_iter(work, run="latest")) == list(range(4, 10))
    assert not partial.exists()  # the stale temporary was cleaned up
    assert sorted(p.name for p in work.glob("iter_*.pth")) == ["iter_9.pth"]  # keep-last-1
