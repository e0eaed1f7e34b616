"""``xtune check-data`` / ``tools/check_dataset.py``: the numbers, the histogram, the marked sample, errors."""

from __future__ import annotations

import json

from xtune.cli.check_data import main

DEMO = "configs/demo/tiny_qwen_lora.py"


def test_json_report_of_the_demo(repo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    code = main([DEMO, "--json", "--cfg-options", f"train_dataloader.dataset.cache_dir={tmp_path}"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_samples"] == 2000 and report["num_tokens"] > 2000 * 25
    assert report["num_truncated"] == report["num_dropped"] == report["num_skipped"] == 0
    assert 0.05 < report["trained_token_fraction"] < 0.5
    assert report["packing_efficiency"] >= 0.98
    assert sum(report["histogram"]["counts"]) == 2000
    assert len(report["histogram"]["edges"]) == len(report["histogram"]["counts"]) + 1
    # The marked sample: the prompt is untrained, the reply and its <|im_end|> are trained.
    assert report["sample"].startswith("<|im_start|>system")
    assert report["sample"].rstrip().endswith("<|im_start|>assistant\n«6<|im_end|>»")


def test_human_report_with_cfg_options(repo, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(repo)
    options = [f"train_dataloader.dataset.cache_dir={tmp_path}", "train_dataloader.dataset.max_length=34",
               "train_dataloader.dataset.truncation=drop"]  # fmt: skip
    assert main([DEMO, "--cfg-options", *options]) == 0
    out = capsys.readouterr().out
    assert "samples               " in out and "packing efficiency" in out and "(trained spans in «»)" in out
    dropped = sum(1 for line in open(repo / "data/demo/train.jsonl") if line)  # noqa: SIM115
    assert "dropped" in out and f"{dropped} rows ->" in out


def test_bad_line_is_reported_without_traceback(repo, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": "b"}\n{"instruction": "a",\n'
    )
    config = tmp_path / "cfg.py"
    config.write_text(
        f"_base_ = ['{repo}/{DEMO}']\n"
        f"train_dataloader = dict(dataset=dict(path='{bad}', cache_dir='{tmp_path / 'cache'}'))\n"
    )
    assert main([str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xtune: error: ") and "bad.jsonl: line 3: malformed JSON" in err
    assert "Traceback" not in err
