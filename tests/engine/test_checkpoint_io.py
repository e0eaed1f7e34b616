"""Checkpoint file logic: atomic publish, the last_checkpoint pointer, picking the last complete checkpoint."""

from __future__ import annotations

import os

import pytest
import torch

from xtune.engine import checkpoint as ck


def _save(path, step: int) -> None:
    torch.save({"meta": {"iter": step}, "state_dict": {"llm.w": torch.full((4,), float(step))}}, path)


def test_publish_renames_and_pointer_follows(tmp_path):
    tmp = tmp_path / ck.temp_name("iter_5.pth")
    _save(tmp, 5)
    ck.publish(tmp, tmp_path / "iter_5.pth")
    ck.write_pointer(tmp_path, tmp_path / "iter_5.pth")
    assert not tmp.exists() and ck.is_complete(tmp_path / "iter_5.pth")
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_5.pth")
    assert ck.last_complete_checkpoint(tmp_path) == str(tmp_path / "iter_5.pth")


def test_publish_replaces_a_checkpoint_directory(tmp_path):
    final = tmp_path / "iter_2.pth"
    for version in (1, 2):
        tmp = tmp_path / ck.temp_name("iter_2.pth")
        tmp.mkdir()
        _save(tmp / "mp_rank_00_model_states.pt", version)
        ck.publish(tmp, final)
    assert ck.is_complete(final)
    assert torch.load(final / "mp_rank_00_model_states.pt")["meta"]["iter"] == 2
    assert sorted(os.listdir(tmp_path)) == ["iter_2.pth"]  # nothing left aside


def test_truncated_and_temporary_files_are_not_complete(tmp_path):
    _save(tmp_path / "iter_3.pth", 3)
    data = (tmp_path / "iter_3.pth").read_bytes()
    (tmp_path / "iter_6.pth").write_bytes(
        data[: len(data) // 2]
    )  # a save killed half way (non-atomic writer)
    _save(tmp_path / ck.temp_name("iter_9.pth"), 9)  # complete bytes, but never renamed
    assert not ck.is_complete(tmp_path / "iter_6.pth")
    assert not ck.is_complete(tmp_path / ck.temp_name("iter_9.pth"))
    # no pointer: the highest complete step wins, partial and temporary files are skipped
    assert ck.last_complete_checkpoint(tmp_path) == str(tmp_path / "iter_3.pth")
    # a pointer to a partial file is not trusted either
    ck.write_pointer(tmp_path, tmp_path / "iter_6.pth")
    assert ck.last_complete_checkpoint(tmp_path) == str(tmp_path / "iter_3.pth")
    # a pointer to a complete, older checkpoint wins (the user resumed from it on purpose)
    _save(tmp_path / "iter_12.pth", 12)
    ck.write_pointer(tmp_path, tmp_path / "iter_3.pth")
    assert ck.last_complete_checkpoint(tmp_path) == str(tmp_path / "iter_3.pth")


def test_empty_work_dir_has_no_checkpoint(tmp_path):
    assert ck.last_complete_checkpoint(tmp_path) is None
    assert ck.last_complete_checkpoint(tmp_path / "missing") is None


def test_remove_stale_temps_only_touches_checkpoint_temporaries(tmp_path):
    _save(tmp_path / ck.temp_name("iter_4.pth"), 4)
    (tmp_path / ck.temp_name("iter_8.pth")).mkdir()
    (tmp_path / ".iter_2.pth.old.tmp").mkdir()
    (tmp_path / ".notes.tmp").write_text("mine")
    removed = ck.remove_stale_temps(tmp_path)
    assert len(removed) == 3
    assert sorted(os.listdir(tmp_path)) == [".notes.tmp"]


def test_load_state_dict_reads_weights_only_and_strips_wrapper_prefix(tmp_path):
    path = tmp_path / "iter_1.pth"
    torch.save({"meta": {}, "state_dict": {"module.llm.a": torch.ones(2), "llm.b": torch.zeros(3)}}, path)
    state = ck.load_state_dict(path)
    assert sorted(state) == ["llm.a", "llm.b"]
    assert ck.load_state_dict(path, keep=lambda n: n.endswith("b")).keys() == {"llm.b"}


def test_checkpoint_step_parses_mmengine_names():
    assert ck.checkpoint_step("/w/iter_40.pth") == 40
    assert ck.checkpoint_step("epoch_3.pth") == 3
    assert ck.checkpoint_step(ck.temp_name("iter_40.pth")) is None


@pytest.mark.parametrize("name", ["iter_1.pth", "last_checkpoint"])
def test_temp_names_are_hidden(name):
    assert ck.temp_name(name).startswith(".") and ck.is_temp_name(ck.temp_name(name))
