"""Model path resolution fails fast with an actionable message instead of minutes of network retries."""

from __future__ import annotations

import pytest

import xtune.hub as hub
from xtune.errors import ModelLoadError


def test_missing_local_dir_names_the_key(tmp_path):
    with pytest.raises(ModelLoadError, match=r"model\.path: local model directory .* does not exist"):
        hub.resolve_model_path(str(tmp_path / "missing"))


def test_dir_without_config_json(tmp_path):
    with pytest.raises(ModelLoadError, match="has no config.json"):
        hub.resolve_model_path(str(tmp_path))


def test_unreachable_hub_id_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: False)
    with pytest.raises(ModelLoadError) as info:
        hub.resolve_model_path("Qwen/Qwen1.5-14B-Chat")
    message = str(info.value)
    assert "cannot reach the model `Qwen/Qwen1.5-14B-Chat`" in message
    assert "--cfg-options model.path=" in message


def test_embedded_model_resolves_to_local_dir(tiny_model_dir):
    path = hub.resolve_model_path("embedded:tiny-qwen2")
    assert path == str(tiny_model_dir)
    assert hub.read_model_config("embedded:tiny-qwen2")["model_type"] == "qwen2"


def test_cli_argument_keys_are_phrased_as_arguments(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match=r"with --base /path/to/model"):
        hub.resolve_model_path(str(tmp_path / "missing"), key="--base")
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=2.0: False)
    with pytest.raises(ModelLoadError, match=r"pass a local path as MODEL\.$"):
        hub.resolve_model_path("Qwen/Qwen1.5-7B-Chat", key="MODEL")
