"""Architecture resolution without weights: local config.json first, then the built-in table."""

from __future__ import annotations

import json

import pytest

from xtune.planner.table import BUILTIN, UnknownArchitecture, builtin_name, resolve_arch


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("Qwen/Qwen1.5-72B-Chat", "Qwen1.5-72B"),
        ("Qwen/Qwen1.5-72B", "Qwen1.5-72B"),
        ("qwen/qwen1.5-0.5b-chat", "Qwen1.5-0.5B"),
        ("Qwen/Qwen1.5-1.8B-Chat", "Qwen1.5-1.8B"),
        ("/models/Qwen1.5-110B-Chat/", "Qwen1.5-110B"),
        ("Qwen/Qwen1.5-72B-Chat-GPTQ-Int4", None),  # another checkpoint, not the 16-bit one
        ("Qwen/Qwen1.5-MoE-A2.7B", None),
        ("Qwen/Qwen1.5-3B", None),
        ("meta-llama/Llama-2-7b-hf", None),
    ],
)
def test_hub_ids_map_to_table_entries(path, name):
    assert builtin_name(path) == name


def test_table_covers_the_whole_family():
    sizes = {name.split("-")[1] for name in BUILTIN}
    assert sizes == {"0.5B", "1.8B", "4B", "7B", "14B", "32B", "72B", "110B"}
    assert BUILTIN["Qwen1.5-110B"]["num_key_value_heads"] == 8
    assert BUILTIN["Qwen1.5-110B"]["intermediate_size"] == 49152


def test_local_config_json_wins_over_the_table(tmp_path):
    model_dir = tmp_path / "Qwen1.5-7B-Chat"
    model_dir.mkdir()
    shrunk = dict(BUILTIN["Qwen1.5-7B"], num_hidden_layers=2)
    (model_dir / "config.json").write_text(json.dumps(shrunk))
    arch = resolve_arch(str(model_dir))
    assert arch.config["num_hidden_layers"] == 2
    assert "config.json" in arch.source


def test_embedded_model_reads_its_config(tiny_model_dir):
    arch = resolve_arch("embedded:tiny-qwen2")
    assert arch.config["vocab_size"] == 384 and arch.config["hidden_size"] == 128


def test_missing_local_dir_falls_back_to_the_table():
    arch = resolve_arch("/nonexistent/models/Qwen1.5-14B-Chat")
    assert arch.name == "Qwen1.5-14B" and "built-in" in arch.source


def test_unknown_model_names_the_key_and_the_way_out():
    with pytest.raises(UnknownArchitecture, match=r"model\.path: .*config\.json"):
        resolve_arch("someone/some-model-7b")
