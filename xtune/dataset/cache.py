"""Preprocess once: results keyed by a content fingerprint, built on rank 0 and shared with the others.

The key hashes everything that changes the tokenized result: the source files' bytes (or the hub /
``save_to_disk`` dataset's own fingerprint), the tokenizer (its full ``tokenizer.json``), the chat
template and the truncation settings. A hit is a ``datasets.load_from_disk`` (memory-mapped, seconds
for millions of rows); a miss builds into a staging directory that is renamed into place, so an
interrupted build never leaves a half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xtune.errors import DataError

# Bump when the preprocessing recipe changes, so old caches are not reused.
PIPELINE_VERSION = "1"
STATS_FILE = "xtune_stats.json"


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of JSON-serialisable parts."""
    text = json.dumps([PIPELINE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Digest of the tokenizer's full definition (vocab, merges, normalizer, specials)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        text = backend.to_str()
    else:  # a slow tokenizer: let datasets hash the object
        from datasets.fingerprint import Hasher

        text = Hasher.hash(tokenizer)
    extra = json.dumps([tokenizer.eos_token, tokenizer.pad_token, type(tokenizer).__name__])
    return hashlib.blake2b((text + extra).encode(), digest_size=16).hexdigest()


def default_cache_dir() -> Path:
    """``$XTUNE_CACHE/datasets``."""
    from xtune.testing.tiny import cache_root

    return cache_root() / "datasets"


def load_cached(target: Path) -> tuple[Any, dict] | None:
    """The cached dataset and its statistics, or None when ``target`` holds no complete build."""
    stats_file = target / STATS_FILE
    if not stats_file.is_file():
        return None
    import datasets

    return datasets.load_from_disk(str(target)), json.loads(stats_file.read_text())


def build_and_save(target: Path, build: Callable[[Path], tuple[Any, dict]]) -> tuple[Any, dict]:
    """Run ``build(staging_dir) -> (dataset, stats)``, save both, and rename into ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        dataset, stats = build(staging / "work")
        dataset.save_to_disk(str(staging / "final"))
        (staging / "final" / STATS_FILE).write_text(json.dumps(stats, indent=1))
        try:
            os.rename(staging / "final", target)
        except OSError:  # another process finished the same build first; its result is identical
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    cached = load_cached(target)
    assert cached is not None
    return cached


def shared_build(
    target: Path, build: Callable[[Path], tuple[Any, dict]], use_cache: bool = True
) -> tuple[Any, dict]:
    """The dataset at ``target``: loaded if cached, else built on rank 0 while the other ranks wait.

    In a distributed run (mmengine's process group) a build error on rank 0 is sent to every rank, so
    all of them stop with the same message instead of the others hanging at a barrier.
    """
    from mmengine import dist

    if not use_cache:
        return build(Path(tempfile.mkdtemp(prefix="xtune-data-")))
    if dist.get_world_size() <= 1:
        return load_cached(target) or build_and_save(target, build)
    error: list[str | None] = [None]
    failure: Exception | None = None
    if dist.get_rank() == 0 and load_cached(target) is None:
        try:
            build_and_save(target, build)
        except Exception as exc:  # sent to every rank before raising, so none waits forever
            failure = exc
            error[0] = str(exc) if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
    dist.broadcast_object_list(error, src=0)
    if failure is not None:
        raise failure
    if error[0] is not None:
        raise DataError(f"rank 0 failed to preprocess the data: {error[0]}")
    cached = load_cached(target)
    if cached is None:
        raise DataError(
            f"preprocessed data is missing at {target}; is the cache directory shared by all ranks?"
        )
    return cached
