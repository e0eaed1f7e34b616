"""mmengine compatibility fixes: checkpoints load with torch.load(weights_only=True), no unsafe globals."""

from __future__ import annotations

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from xtune.engine.compat import WeightsOnlyCheckpointHook


def _checkpoint() -> dict:
    buffer = HistoryBuffer()
    for value in (3.0, 2.0, 1.0):
        buffer.update(value)
    return {
        "state_dict": {"w": torch.ones(2)},
        "message_hub": {
            "log_scalars": {"train/loss": buffer},
            "runtime_info": {"eta": np.float64(12.5), "iter": 3},
            "resumed_keys": {"train/loss": True},
        },
    }


def test_raw_mmengine_checkpoint_needs_unsafe_getattr(tmp_path):
    path = tmp_path / "raw.pth"
    torch.save(_checkpoint(), path)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    assert "builtins.getattr" in unsafe  # the problem the hook exists to remove


def test_hook_round_trip_is_weights_only_loadable(tmp_path):
    hook = WeightsOnlyCheckpointHook()
    checkpoint = _checkpoint()
    hook.before_save_checkpoint(None, checkpoint)
    path = tmp_path / "safe.pth"
    torch.save(checkpoint, path)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []

    loaded = torch.load(path, weights_only=True)
    hook.after_load_checkpoint(None, loaded)
    buffer = loaded["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == 1.0 and buffer.mean() == 2.0
    assert loaded["message_hub"]["runtime_info"]["eta"] == 12.5
