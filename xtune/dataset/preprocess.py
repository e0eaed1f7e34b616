"""Raw rows of one source → tokenized, masked, length-checked samples (a batched ``datasets.map``).

Every row goes through its format converter, the chat template and one batched fast-tokenizer call.
A row that cannot be converted stops preprocessing with ``file: line N: field: problem``, or, with
``on_bad_row='skip'``, is counted and reported. Samples longer than ``max_length`` are truncated or
dropped (``truncation``); samples with no trained token left are dropped. Every such decision is counted
in the statistics that ``xtune check-data`` and the training log print.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xtune.dataset.formats import RowError, build_format, detect_format, format_name
from xtune.dataset.sources import Source
from xtune.dataset.template import IGNORE_INDEX, encode_batch
from xtune.errors import DataError

KEEP = ("", "truncated")  # statuses of samples that are trained on
MAX_REPORTED = 5  # problems quoted in the statistics (all are counted)


@dataclass(frozen=True)
class EncodeSettings:
    """Everything besides the data and the tokenizer that changes the tokenized result."""

    chat_template: str
    max_length: int
    truncation: str
    on_bad_row: str


class Encoder:
    """The ``datasets.map`` function: a batch of raw rows → ``input_ids``/``labels``/``length``/``status``."""

    def __init__(self, source: Source, converter: Any, tokenizer: Any, settings: EncodeSettings) -> None:
        self.source, self.converter, self.tokenizer, self.settings = source, converter, tokenizer, settings

    def __call__(self, batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        columns = list(batch)
        rows = [{c: batch[c][i] for c in columns} for i in range(len(indices))]
        samples, problems = [], []
        for index, row in zip(indices, rows):
            try:
                samples.append(self.converter(row))
                problems.append("")
            except RowError as exc:
                if self.settings.on_bad_row != "skip":
                    raise DataError(
                        f"{self.source.locate(index)}: {exc.field}: {exc.message} "
                        "(fix the row, or set the dataset's on_bad_row='skip' to skip and count such rows)"
                    ) from None
                samples.append(None)
                problems.append(f"{exc.field}: {exc.message}")
        good = [s for s in samples if s is not None]
        try:
            encoded = iter(encode_batch(self.tokenizer, self.settings.chat_template, good))
        except RowError:  # a template problem: find the row it belongs to
            encoded = iter(self._encode_one_by_one(indices, samples, problems))
        out: dict[str, list] = {"input_ids": [], "labels": [], "length": [], "num_trained": [], "status": [],
                                "problem": []}  # fmt: skip
        for sample, problem in zip(samples, problems):
            if sample is None:
                self._emit(out, [], [], "bad", problem)
                continue
            ids, labels = next(encoded)
            if ids is None:
                self._emit(out, [], [], "bad", labels)
                continue
            status = ""
            if len(ids) > self.settings.max_length:
                if self.settings.truncation == "drop":
                    status = "dropped"
                    problem = f"longer than max_length ({len(ids)} > {self.settings.max_length} tokens)"
                else:
                    ids, labels = ids[: self.settings.max_length], labels[: self.settings.max_length]
                    status = "truncated"
            if status != "dropped" and all(label == IGNORE_INDEX for label in labels):
                status, problem = (
                    "dropped",
                    "no trained tokens"
                    + (
                        f" within max_length={self.settings.max_length}"
                        if len(ids) == self.settings.max_length
                        else ""
                    ),
                )
            self._emit(out, ids, labels, status, problem)
        return out

    def _encode_one_by_one(self, indices: list[int], samples: list, problems: list[str]) -> list[tuple]:
        results = []
        for index, sample in zip(indices, samples):
            if sample is None:
                continue
            try:
                results.append(encode_batch(self.tokenizer, self.settings.chat_template, [sample])[0])
            except RowError as exc:
                if self.settings.on_bad_row != "skip":
                    raise DataError(f"{self.source.locate(index)}: {exc.field}: {exc.message}") from None
                results.append((None, f"{exc.field}: {exc.message}"))
        return results

    @staticmethod
    def _emit(out: dict, ids: list, labels: list, status: str, problem: str) -> None:
        out["input_ids"].append(ids)
        out["labels"].append(labels)
        out["length"].append(len(ids))
        out["num_trained"].append(sum(1 for label in labels if label != IGNORE_INDEX))
        out["status"].append(status)
        out["problem"].append(problem)


def preprocess_source(
    source: Source,
    format_spec: Any,
    tokenizer: Any,
    settings: EncodeSettings,
    work_dir: Path,
    num_proc: int = 1,
) -> tuple[Any, dict]:
    """Tokenize one source; returns the kept samples and the statistics of what happened to every row."""
    import datasets

    raw = source.load()
    if format_spec in (None, "auto"):
        format_spec = detect_format(set(raw.column_names), where=f"{source.spec.key} `{source.name}`")
    converter = build_format(format_spec)
    features = datasets.Features(
        {
            "input_ids": datasets.Sequence(datasets.Value("int32")),
            "labels": datasets.Sequence(datasets.Value("int32")),
            "length": datasets.Value("int32"),
            "num_trained": datasets.Value("int32"),
            "status": datasets.Value("string"),
            "problem": datasets.Value("string"),
        }
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    encoded = raw.map(
        Encoder(source, converter, tokenizer, settings),
        batched=True,
        with_indices=True,
        remove_columns=raw.column_names,
        features=features,
        num_proc=num_proc if num_proc > 1 and len(raw) >= 2 * num_proc else None,
        cache_file_name=str(work_dir / "encoded.arrow"),
        desc=f"Tokenizing {source.name}",
    )
    stats = _statistics(source, encoded, converter, settings)
    kept = encoded.filter(
        lambda status: [s in KEEP for s in status],
        input_columns="status",
        batched=True,
        cache_file_name=str(work_dir / "kept.arrow"),
        desc="Keeping trainable samples",
    )
    return kept.remove_columns(["status", "problem"]), stats


def _statistics(source: Source, encoded: Any, converter: Any, settings: EncodeSettings) -> dict:
    statuses = list(encoded["status"])
    problems = list(encoded["problem"])
    reported: dict[str, list[str]] = {"bad": list(source.bad_lines[:MAX_REPORTED]), "dropped": []}
    for index, (status, problem) in enumerate(zip(statuses, problems)):
        if status in reported and len(reported[status]) < MAX_REPORTED:
            reported[status].append(f"{source.locate(index)}: {problem}")
    return {
        "source": source.name,
        "format": format_name(converter),
        "num_rows": len(statuses) + len(source.bad_lines),
        "num_skipped": statuses.count("bad") + len(source.bad_lines),
        "num_truncated": statuses.count("truncated"),
        "num_dropped": statuses.count("dropped"),
        "skipped_examples": reported["bad"],
        "dropped_examples": reported["dropped"],
        "settings": {k: v for k, v in asdict(settings).items() if k != "chat_template"},
    }
