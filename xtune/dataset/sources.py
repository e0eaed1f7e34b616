"""Data sources read through HF ``datasets``: local files and folders, ``save_to_disk`` dirs, hub ids.

A source is given in a config as a path or a dict::

    sources=[dict(path='data/chat/', weight=2.0),             # every .jsonl/.json/.parquet/.csv inside
             dict(path='data/alpaca.jsonl', format='alpaca'),
             dict(path='/data/processed_ds'),                  # a datasets.save_to_disk directory
             dict(path='tatsu-lab/alpaca', split='train')]     # a hub id (needs the hub or its cache)

Rows are read with ``datasets.load_dataset`` (or ``load_from_disk``). When something is wrong, a row's
index is turned back into ``file: line N`` (JSON lines) or ``file: row N`` so the error points at it.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtune.errors import ConfigError, DataError

BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
SOURCE_KEYS = ("path", "format", "weight", "split", "subset", "revision")


@dataclass
class SourceSpec:
    """One entry of ``sources``: where rows come from and how much of them to use.

    ``weight`` scales how many samples the source contributes per epoch: 2.0 repeats every sample twice,
    0.5 keeps a random half (fixed by the dataset's ``seed``).
    """

    path: str
    format: Any = None
    weight: float = 1.0
    split: str = "train"
    subset: str | None = None
    revision: str | None = None
    key: str = "path"  # the config key this came from, for error messages


def parse_sources(sources: list | None, path: str | None) -> list[SourceSpec]:
    """Normalise ``sources`` / ``path`` into :class:`SourceSpec` s, rejecting unknown keys by name."""
    if sources and path:
        raise ConfigError("dataset: give either `path` or `sources`, not both")
    if not sources:
        if not path:
            raise ConfigError(
                "dataset: no data given; set `path=` (a file, folder or hub id) or `sources=[...]`"
            )
        return [SourceSpec(path=str(path))]
    specs = []
    for index, entry in enumerate(sources):
        key = f"sources[{index}]"
        if isinstance(entry, (str, os.PathLike)):
            specs.append(SourceSpec(path=str(entry), key=key))
            continue
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{key}: expected a path or a dict(path=..., weight=...), got {entry!r}")
        for name in entry:
            if name not in SOURCE_KEYS:
                close = difflib.get_close_matches(name, SOURCE_KEYS, n=1, cutoff=0.5)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                raise ConfigError(f"{key}.{name}: unknown key{hint} (accepted: {', '.join(SOURCE_KEYS)})")
        if "path" not in entry:
            raise ConfigError(f"{key}: missing `path`")
        weight = entry.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0:
            raise ConfigError(f"{key}.weight: expected a positive number, got {weight!r}")
        specs.append(SourceSpec(**{k: entry[k] for k in SOURCE_KEYS if k in entry}, key=key))
        specs[-1].weight = float(weight)
    return specs


@dataclass
class Source:
    """A resolved source: ``kind`` is ``files``, ``disk`` or ``hub``."""

    spec: SourceSpec
    kind: str
    files: list[Path] = field(default_factory=list)
    builder: str | None = None
    skip_bad_lines: bool = False
    bad_lines: list[str] = field(default_factory=list)  # locations of malformed lines that were skipped
    _counts: list[int] | None = None
    _loaded: Any = None

    @property
    def name(self) -> str:
        return self.spec.path

    # -- identity ------------------------------------------------------------------------------------
    def fingerprint_parts(self) -> dict:
        """What the source's content is, for the preprocessing cache key (contents, not paths)."""
        if self.kind == "files":
            return {"builder": self.builder, "files": [file_digest(f) for f in self.files]}
        return {"kind": self.kind, "fingerprint": self.load()._fingerprint}

    # -- loading -------------------------------------------------------------------------------------
    def load(self) -> Any:
        """The raw rows as a ``datasets.Dataset``."""
        if self._loaded is None:
            self._loaded = {"files": self._load_files, "disk": self._load_disk, "hub": self._load_hub}[
                self.kind
            ]()
        return self._loaded

    def _load_files(self) -> Any:
        import datasets

        files = [str(f) for f in self.files]
        try:
            with _quiet_datasets():
                return datasets.load_dataset(
                    self.builder, data_files=files, split="train", cache_dir=str(hf_cache_dir())
                )
        except datasets.exceptions.DatasetGenerationError as exc:
            if self.builder != "json":
                raise DataError(f"{self.name}: cannot read rows: {exc.__cause__ or exc}") from exc
        # pyarrow gave up on a line: find it ourselves, to name the file and line (or skip it).
        rows = list(self._iter_json_rows())
        if not rows:
            raise DataError(f"{self.name}: no rows")
        return datasets.Dataset.from_list(rows)

    def _iter_json_rows(self) -> Iterator[dict]:
        for file in self.files:
            if _is_json_array(file):
                try:
                    data = json.loads(file.read_text())
                except json.JSONDecodeError as exc:
                    raise DataError(f"{file}: line {exc.lineno}: malformed JSON: {exc.msg}") from exc
                yield from data
                continue
            with open(file, encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line.rstrip("\r\n"))
                    except json.JSONDecodeError as exc:
                        where = f"{file}: line {number}: malformed JSON: {exc.msg} (column {exc.pos + 1})"
                        if not self.skip_bad_lines:
                            raise DataError(where + "; fix the line or set on_bad_row='skip'") from exc
                        self.bad_lines.append(where)
                        continue
                    if not isinstance(row, dict):
                        where = f"{file}: line {number}: expected a JSON object, got {type(row).__name__}"
                        if not self.skip_bad_lines:
                            raise DataError(where)
                        self.bad_lines.append(where)
                        continue
                    yield row

    def _load_disk(self) -> Any:
        import datasets

        loaded = datasets.load_from_disk(self.spec.path)
        if isinstance(loaded, datasets.DatasetDict):
            if self.spec.split not in loaded:
                raise DataError(
                    f"{self.spec.key}.split: `{self.spec.path}` has splits {sorted(loaded)}, not {self.spec.split!r}"
                )
            loaded = loaded[self.spec.split]
        return loaded

    def _load_hub(self) -> Any:
        import datasets

        from xtune.hub import hub_reachable

        spec = self.spec
        online = hub_reachable()
        try:
            with _offline(not online), _quiet_datasets():
                return datasets.load_dataset(spec.path, spec.subset, split=spec.split, revision=spec.revision)
        except (ConnectionError, OSError) as exc:
            if online:
                raise DataError(f"{spec.key}: cannot load `{spec.path}` from the hub: {exc}") from exc
            raise DataError(
                f"{spec.key}: `{spec.path}` is not a local file or folder, and the Hugging Face Hub is "
                "unreachable from this machine (it is not in the datasets cache either). On a machine with "
                f"internet run `datasets.load_dataset({spec.path!r}).save_to_disk(DIR)`, copy DIR here "
                "and set path=DIR."
            ) from exc
        except ValueError as exc:  # unknown split or subset
            raise DataError(f"{spec.key}: `{spec.path}`: {exc}") from exc

    # -- locating rows -------------------------------------------------------------------------------
    def locate(self, index: int) -> str:
        """Where the ``index``-th row came from: ``file: line N`` or ``file: row N`` (0-based rows)."""
        if self.kind != "files":
            return f"{self.name} ({self.spec.split}): row {index}"
        if self._counts is None:
            self._counts = [self._count_rows(f) for f in self.files]
        for file, count in zip(self.files, self._counts):
            if index < count:
                return self._locate_in_file(file, index)
            index -= count
        return f"{self.name}: row {index}"

    def _count_rows(self, file: Path) -> int:
        if self.builder == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(file).metadata.num_rows
        if self.builder == "csv":
            with open(file, newline="", encoding="utf-8") as f:
                return max(sum(1 for _ in csv.reader(f)) - 1, 0)
        if _is_json_array(file):
            return len(json.loads(file.read_text()))
        return sum(1 for _ in self._json_lines(file))

    def _json_lines(self, file: Path) -> Iterator[int]:
        """Line numbers of the lines that became rows (non-blank; valid when bad lines are skipped)."""
        with open(file, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                if self.skip_bad_lines:
                    try:
                        if not isinstance(json.loads(line), dict):
                            continue
                    except json.JSONDecodeError:
                        continue
                yield number

    def _locate_in_file(self, file: Path, index: int) -> str:
        if self.builder == "json" and not _is_json_array(file):
            for position, number in enumerate(self._json_lines(file)):
                if position == index:
                    return f"{file}: line {number}"
        return f"{file}: row {index}"


def resolve_source(spec: SourceSpec, skip_bad_lines: bool = False) -> Source:
    """Decide what ``spec.path`` is: a file, a folder of files, a ``save_to_disk`` dir, or a hub id."""
    path = Path(os.path.expanduser(spec.path))
    if path.is_file():
        builder = BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise DataError(
                f"{spec.key}: `{spec.path}`: unsupported file type `{path.suffix}`; use "
                f"{', '.join(BUILDERS)} files, a folder of them, or a datasets save_to_disk directory"
            )
        return Source(spec, "files", [path], builder, skip_bad_lines)
    if path.is_dir():
        if any((path / marker).is_file() for marker in ("state.json", "dataset_dict.json")):
            return Source(spec, "disk")
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in BUILDERS)
        if not files:
            raise DataError(f"{spec.key}: folder `{spec.path}` holds no {', '.join(BUILDERS)} files")
        builders = {BUILDERS[f.suffix.lower()] for f in files}
        if len(builders) > 1:
            raise DataError(
                f"{spec.key}: folder `{spec.path}` mixes file types ({', '.join(sorted(builders))}); "
                "give each type as its own source"
            )
        return Source(spec, "files", files, builders.pop(), skip_bad_lines)
    from xtune.hub import looks_local

    if looks_local(spec.path) or spec.path.endswith(tuple(BUILDERS)):
        raise DataError(f"{spec.key}: `{spec.path}` does not exist")
    return Source(spec, "hub")


def file_digest(file: Path) -> str:
    """BLAKE2b of a file's bytes (streamed)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hf_cache_dir() -> Path:
    """Where ``datasets`` keeps the raw Arrow copies of local files: ``$XTUNE_CACHE/hf_datasets``."""
    from xtune.testing.tiny import cache_root

    return cache_root() / "hf_datasets"


def _is_json_array(file: Path) -> bool:
    with open(file, encoding="utf-8") as f:
        while True:
            char = f.read(1)
            if not char or not char.isspace():
                return char == "["


@contextlib.contextmanager
def _offline(enabled: bool) -> Iterator[None]:
    """Make ``datasets`` use only its local cache (no 20 s of retries) while the hub is unreachable."""
    if not enabled:
        yield
        return
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' own progress bars and warnings while it reads raw files."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    level = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # our own DataError says what failed
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)
        if was_enabled:
            datasets.enable_progress_bars()
