"""``xtune list-cfg`` and ``xtune copy-cfg``: listing with patterns, and standalone copies that round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from xtune.cli.copy_cfg import main as copy_main
from xtune.cli.list_cfg import main as list_main
from xtune.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_list_with_a_pattern(capsys):
    assert list_main(["14b"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "qwen1_5_14b_full",
        "qwen1_5_14b_lora",
        "qwen1_5_14b_qlora",
    ]
    assert "QLoRA" in lines[2]  # each name comes with its header's first line
    assert list_main(["qwen1_5_*_qlora"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 8
    assert list_main([]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "demo/tiny_qwen_qlora" in names and not any("_base_" in n for n in names)
    assert list_main(["no_such_config"]) == 1


@pytest.mark.parametrize(
    "name", ["qwen1_5_14b_qlora", "qwen1_5_72b_lora", "qwen1_5_0_5b_full", "demo/tiny_qwen_qlora"]
)
def test_copy_round_trips(tmp_path, name, capsys):
    assert copy_main([name, str(tmp_path) + "/"]) == 0
    copy = tmp_path / f"{Path(name).name}.py"
    assert not [line for line in copy.read_text().splitlines() if line.startswith("_base_")]
    original = load_config(REPO / "configs" / f"{name}.py").to_dict()
    assert load_config(copy).to_dict() == original


def test_copy_bakes_overrides_and_refuses_to_overwrite(tmp_path, capsys):
    dest = tmp_path / "mine.py"
    assert copy_main(["qwen1_5_14b_qlora", str(dest), "--cfg-options", "model.path=/models/q14"]) == 0
    assert load_config(dest).model.path == "/models/q14"
    assert copy_main(["qwen1_5_14b_qlora", str(dest)]) == 2
    assert "exists" in capsys.readouterr().err
    assert copy_main(["qwen1_5_14b_qlorra", str(tmp_path / "x.py")]) == 2
    assert "Did you mean: qwen1_5_14b_qlora" in capsys.readouterr().err
