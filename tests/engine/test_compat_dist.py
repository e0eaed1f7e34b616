"""``compat.init_dist``: mmengine's process-group start without its unconditional CUDA call."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist

from xtune.engine import compat
from xtune.testing.dist import free_port


@pytest.fixture
def one_rank_env(monkeypatch):
    port = free_port()
    env = {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the failure is specific to CPU-only torch")
def test_mmengine_init_dist_fails_without_cuda(one_rank_env, monkeypatch):
    """Why the fix exists; when mmengine stops calling torch.cuda.set_device, this test tells us."""
    import mmengine.dist.utils as mm_dist

    monkeypatch.setattr(mm_dist.mp, "get_start_method", lambda allow_none=False: "fork")  # no global change
    with pytest.raises((AttributeError, RuntimeError, AssertionError)):
        mm_dist.init_dist("pytorch", backend="gloo")
    assert not dist.is_initialized()


def test_init_dist_starts_gloo_without_cuda(one_rank_env):
    if torch.cuda.is_available():
        pytest.skip("with CUDA, mmengine's own init_dist runs")
    compat.init_dist("pytorch", backend="gloo", timeout=60)
    try:
        assert dist.is_initialized()
        assert (dist.get_backend(), dist.get_world_size(), dist.get_rank()) == ("gloo", 1, 0)
        compat.init_dist("pytorch", backend="gloo")  # already started: a no-op, as the runner expects
    finally:
        dist.destroy_process_group()


def test_slurm_variables_become_torchrun_variables(monkeypatch):
    slurm = {"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NODELIST": "node[1-2]"}
    for key, value in {**slurm, "MASTER_ADDR": "10.0.0.1", "RANK": "-", "WORLD_SIZE": "-", "LOCAL_RANK": "-",
                       "MASTER_PORT": "-"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)  # recorded, so the test's changes are undone afterwards
    monkeypatch.delenv("MASTER_PORT")
    compat._torch_env_from_slurm()
    assert [os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT", "MASTER_ADDR")] == [
        "3", "8", "1", "29500", "10.0.0.1"]  # fmt: skip


def test_unknown_launcher_is_refused(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CPU path only")
    with pytest.raises(ValueError, match="torchrun"):
        compat.init_dist("mpi", backend="gloo")
