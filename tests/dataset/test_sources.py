"""Sources through HF datasets: files, folders, save_to_disk dirs, hub ids (offline), mixing with weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xtune.dataset import SFTDataset
from xtune.dataset.sources import SourceSpec, parse_sources, resolve_source
from xtune.errors import ConfigError, DataError
from xtune.testing import make_demo_samples

ROWS = make_demo_samples(12, seed=5)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def build(tiny_tokenizer, tmp_path, **kwargs) -> SFTDataset:
    return SFTDataset(tokenizer=tiny_tokenizer, cache_dir=str(tmp_path / "cache"), max_length=128, **kwargs)


def decoded_outputs(dataset: SFTDataset) -> list[str]:
    """The trained text of every sample, in dataset order."""
    out = []
    for i in range(len(dataset)):
        s = dataset.sample(i)
        out.append(dataset.tokenizer.decode(s["input_ids"][s["labels"] != -100]))
    return out


@pytest.fixture
def files(tmp_path):
    import pandas as pd

    pd.DataFrame(ROWS).to_parquet(tmp_path / "rows.parquet")
    pd.DataFrame(ROWS).to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "rows.json").write_text(json.dumps(ROWS, indent=1))
    write_jsonl(tmp_path / "rows.jsonl", ROWS)
    folder = tmp_path / "folder"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", ROWS[:5])
    write_jsonl(folder / "b.jsonl", ROWS[5:])
    return tmp_path


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.json", "rows.parquet", "rows.csv", "folder"])
def test_every_file_kind_gives_the_same_samples(files, tiny_tokenizer, name):
    dataset = build(tiny_tokenizer, files, path=str(files / name))
    assert decoded_outputs(dataset) == [r["output"] + "<|im_end|>" for r in ROWS]
    assert dataset.statistics()["sources"][0]["format"] == "alpaca"  # detected from the columns


def test_save_to_disk_directory_and_split(files, tiny_tokenizer):
    import datasets

    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS[:4]), "test": datasets.Dataset.from_list(ROWS[4:6])}
    ).save_to_disk(str(files / "saved"))
    dataset = build(tiny_tokenizer, files, sources=[dict(path=str(files / "saved"), split="test")])
    assert decoded_outputs(dataset) == [r["output"] + "<|im_end|>" for r in ROWS[4:6]]
    with pytest.raises(DataError, match=r"sources\[0\].split: .* has splits \['test', 'train'\], not 'dev'"):
        build(tiny_tokenizer, files, sources=[dict(path=str(files / "saved"), split="dev")])


def test_hub_id_offline_fails_fast_and_clearly(tmp_path, tiny_tokenizer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        build(tiny_tokenizer, tmp_path, path="some-org/some-dataset")
    message = str(info.value)
    assert "some-org/some-dataset" in message and "unreachable" in message and "save_to_disk" in message


def test_missing_local_path_and_unsupported_file(tmp_path, tiny_tokenizer):
    with pytest.raises(DataError, match="`./nope.jsonl` does not exist"):
        build(tiny_tokenizer, tmp_path, path="./nope.jsonl")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="unsupported file type `.txt`"):
        build(tiny_tokenizer, tmp_path, path=str(tmp_path / "notes.txt"))


def test_mixing_sources_with_weights(files, tiny_tokenizer):
    other = write_jsonl(files / "other.jsonl", make_demo_samples(10, seed=9))
    dataset = build(
        tiny_tokenizer,
        files,
        sources=[dict(path=str(files / "rows.jsonl"), weight=2.0), dict(path=str(other), weight=0.5)],
        seed=3,
    )
    assert len(dataset) == 2 * 12 + 5
    per_source = [s["num_samples"] for s in dataset.statistics()["sources"]]
    assert per_source == [24, 5]
    # Every row of the first source twice; five distinct rows of the second.
    assert np.bincount(dataset.order[:24]).tolist() == [2] * 12
    assert len(set(dataset.order[24:].tolist())) == 5 and dataset.order[24:].min() >= 12


def test_source_keys_are_checked():
    with pytest.raises(ConfigError, match=r"sources\[0\].wieght: unknown key; did you mean `weight`"):
        parse_sources([dict(path="a.jsonl", wieght=2)], None)
    with pytest.raises(ConfigError, match=r"sources\[1\].weight: expected a positive number"):
        parse_sources(["a.jsonl", dict(path="b.jsonl", weight=0)], None)
    with pytest.raises(ConfigError, match="either `path` or `sources`"):
        parse_sources(["a.jsonl"], "b.jsonl")


def test_locate_rows_in_files_with_blank_lines(tmp_path):
    file = tmp_path / "x.jsonl"
    file.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3}\n')
    source = resolve_source(SourceSpec(path=str(file)))
    assert len(source.load()) == 3
    assert [source.locate(i) for i in range(3)] == [f"{file}: line {n}" for n in (1, 3, 4)]


@pytest.mark.parametrize("fmt", ["alpaca", "openai", "sharegpt", "text"])
def test_documented_example_files_load_and_are_detected(repo, tmp_path, tiny_tokenizer, fmt):
    path = repo / "docs" / "examples" / f"{fmt}.jsonl"
    dataset = build(tiny_tokenizer, tmp_path, path=str(path))
    stats = dataset.statistics()
    assert stats["sources"][0]["format"] == fmt
    assert stats["num_samples"] == sum(1 for line in path.read_text().splitlines() if line.strip())
    assert stats["num_skipped"] == stats["num_dropped"] == 0
