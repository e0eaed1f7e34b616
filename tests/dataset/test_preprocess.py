"""Bad input names file, line and field; skipping counts rows; truncation and dropping are counted."""

from __future__ import annotations

import json

import pytest

from xtune.dataset import SFTDataset
from xtune.errors import DataError

GOOD = {"instruction": "Reverse the letters.", "input": "a b", "output": "b a"}
CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def build(tiny_tokenizer, tmp_path, path, **kwargs) -> SFTDataset:
    kwargs.setdefault("max_length", 128)
    return SFTDataset(path=str(path), tokenizer=tiny_tokenizer, cache_dir=str(tmp_path / "cache"), **kwargs)


def write(tmp_path, name: str, lines: list) -> str:
    path = tmp_path / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_malformed_third_line_names_file_and_line(tmp_path, tiny_tokenizer):
    path = write(tmp_path, "broken.jsonl", [GOOD, GOOD, '{"instruction": "x", "output": "y"', GOOD])
    with pytest.raises(DataError) as info:
        build(tiny_tokenizer, tmp_path, path)
    assert "broken.jsonl" in str(info.value) and "line 3" in str(info.value)
    assert "malformed JSON" in str(info.value)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([GOOD, {"instruction": "no output"}], "line 2: output: missing required field"),
        (
            [CHAT, CHAT, {"messages": [{"role": "robot", "content": "x"}]}],
            "line 3: messages[0].role: unknown role",
        ),
        ([{"messages": []}, CHAT], "line 1: messages: empty conversation"),
        ([CHAT, {"messages": [{"role": "user", "content": None}]}], "line 2: messages[0].content: missing"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, tiny_tokenizer, rows, expected):
    path = write(tmp_path, "rows.jsonl", rows)
    with pytest.raises(DataError) as info:
        build(tiny_tokenizer, tmp_path, path)
    assert f"{path}: {expected}" in str(info.value)
    assert "on_bad_row='skip'" in str(info.value)


def test_bad_parquet_row_names_the_row(tmp_path, tiny_tokenizer):
    import pandas as pd

    pd.DataFrame([GOOD, GOOD, {"instruction": "x", "input": "", "output": None}]).to_parquet(
        tmp_path / "r.parquet"
    )
    with pytest.raises(DataError, match=r"r\.parquet: row 2: output: missing required field"):
        build(tiny_tokenizer, tmp_path, tmp_path / "r.parquet")


def test_skip_counts_and_reports_bad_rows(tmp_path, tiny_tokenizer):
    path = write(tmp_path, "mixed.jsonl", [GOOD, "{not json", {"instruction": "x"}, GOOD, "", GOOD])
    dataset = build(tiny_tokenizer, tmp_path, path, on_bad_row="skip")
    stats = dataset.statistics()
    assert len(dataset) == 3 and stats["num_skipped"] == 2
    [source] = stats["sources"]
    assert source["num_rows"] == 5
    assert source["skipped_examples"][0].startswith(f"{path}: line 2: malformed JSON")
    assert source["skipped_examples"][1] == f"{path}: line 3: output: missing required field"
    assert "2 skipped" in dataset.summary()


def test_truncate_and_drop_are_counted(tmp_path, tiny_tokenizer):
    long_reply = {"instruction": "Count.", "input": "a", "output": " ".join("abcdefghij" * 6)}
    path = write(tmp_path, "long.jsonl", [GOOD, long_reply, GOOD])
    truncated = build(tiny_tokenizer, tmp_path, path, max_length=48)
    stats = truncated.statistics()
    assert (stats["num_truncated"], stats["num_dropped"], len(truncated)) == (1, 0, 3)
    assert truncated.lengths.max() == 48
    dropped = build(tiny_tokenizer, tmp_path, path, max_length=48, truncation="drop")
    stats = dropped.statistics()
    assert (stats["num_truncated"], stats["num_dropped"], len(dropped)) == (0, 1, 2)
    assert "longer than max_length" in stats["sources"][0]["dropped_examples"][0]
    assert f"{path}: line 2" in stats["sources"][0]["dropped_examples"][0]


def test_truncation_that_leaves_no_reply_drops_the_sample(tmp_path, tiny_tokenizer):
    long_prompt = {"instruction": "Count. " + "a b c " * 40, "output": "120"}
    path = write(tmp_path, "prompt.jsonl", [GOOD, long_prompt])
    dataset = build(tiny_tokenizer, tmp_path, path, max_length=48)
    stats = dataset.statistics()
    assert (stats["num_dropped"], len(dataset)) == (1, 1)
    assert "no trained tokens within max_length=48" in stats["sources"][0]["dropped_examples"][0]


def test_no_usable_sample_is_an_error(tmp_path, tiny_tokenizer):
    path = write(tmp_path, "bad.jsonl", [{"instruction": "x"}])
    with pytest.raises(DataError, match="has no usable samples .1 rows, 1 skipped"):
        build(tiny_tokenizer, tmp_path, path, on_bad_row="skip", format="alpaca")


def test_num_proc_gives_the_same_samples_and_errors(tmp_path, tiny_tokenizer):
    from xtune.testing import make_demo_samples

    rows = make_demo_samples(60, seed=3)
    path = write(tmp_path, "many.jsonl", rows)
    one = build(tiny_tokenizer, tmp_path / "one", path)
    two = build(tiny_tokenizer, tmp_path / "two", path, num_proc=2)
    assert len(one) == len(two) == 60
    for i in range(60):
        assert one[i]["input_ids"].tolist() == two[i]["input_ids"].tolist()
        assert one[i]["labels"].tolist() == two[i]["labels"].tolist()
    rows[45] = {"instruction": "x"}  # in the second worker's shard
    path = write(tmp_path, "bad_many.jsonl", rows)
    with pytest.raises(DataError, match=r"bad_many\.jsonl: line 46: output: missing required field"):
        build(tiny_tokenizer, tmp_path / "three", path, num_proc=2)
