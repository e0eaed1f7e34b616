"""``SFTDataset``: sources → format → chat template + label mask → truncate → mix → (pack)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.utils.data import Dataset

from xtune.dataset.cache import default_cache_dir, fingerprint, shared_build, tokenizer_fingerprint
from xtune.dataset.columns import ListColumns
from xtune.dataset.packing import pack, packing_efficiency
from xtune.dataset.preprocess import EncodeSettings, preprocess_source
from xtune.dataset.sources import Source, SourceSpec, parse_sources, resolve_source
from xtune.dataset.template import IGNORE_INDEX, resolve_chat_template
from xtune.errors import ConfigError, DataError
from xtune.registry import DATASETS


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """``AutoTokenizer`` for a local dir, hub id or embedded model."""
    from transformers import AutoTokenizer

    from xtune.hub import resolve_model_path

    return AutoTokenizer.from_pretrained(
        resolve_model_path(path, key="tokenizer"), trust_remote_code=trust_remote_code
    )


@DATASETS.register_module()
class SFTDataset(Dataset):
    """Supervised fine-tuning (or continued pre-training) samples, tokenized once and cached.

    Args:
        path: one source: a .jsonl/.json/.parquet/.csv file, a folder of them, a ``save_to_disk``
            directory or a hub dataset id. Use ``sources`` for several.
        sources: several sources, each a path or ``dict(path=, format=, weight=, split=, subset=,
            revision=)``; ``weight`` repeats (2.0) or subsamples (0.5) a source's samples per epoch.
        tokenizer: tokenizer path (or a loaded tokenizer); the engine fills in the model's path (or the
            top-level ``tokenizer``).
        format: a DATA_FORMATS name (``alpaca``, ``openai``/``messages``, ``sharegpt``, ``text``), a
            ``dict(type=..., ...)``, or ``'auto'`` to detect it from the columns.
        chat_template: None for the tokenizer's own template, a CHAT_TEMPLATES name (``chatml``,
            ``qwen``) or a jinja string.
        max_length: the longest sample (and packed row) in tokens.
        truncation: what to do with longer samples: ``'truncate'`` (keep the first ``max_length``
            tokens) or ``'drop'``.
        pack_to_max_length: concatenate samples into rows of ``max_length`` tokens (best-fit, never
            splitting a sample) with per-sample position ids and no attention across samples.
        on_bad_row: ``'error'`` stops at the first unusable row naming its file and line; ``'skip'``
            skips such rows, counting and reporting them.
        num_proc: processes for tokenization.
        cache_dir: where preprocessed data is kept (default ``$XTUNE_CACHE/datasets``).
        use_cache: reuse preprocessing across runs (keyed by a fingerprint of data, tokenizer, settings).
        seed: for subsampling sources with ``weight`` < 1.
        trust_remote_code: passed to ``AutoTokenizer``.
    """

    def __init__(
        self,
        path: str | None = None,
        sources: list[str | dict] | None = None,
        tokenizer: str | None = None,
        format: str | dict = "auto",
        chat_template: str | None = None,
        max_length: int = 2048,
        truncation: Literal["truncate", "drop"] = "truncate",
        pack_to_max_length: bool = False,
        on_bad_row: Literal["error", "skip"] = "error",
        num_proc: int = 1,
        cache_dir: str | None = None,
        use_cache: bool = True,
        seed: int = 0,
        trust_remote_code: bool = False,
    ) -> None:
        if tokenizer is None:
            raise ConfigError("dataset.tokenizer: no tokenizer; set it or the model's path")
        if truncation not in ("truncate", "drop"):
            raise ConfigError(f"dataset.truncation: expected 'truncate' or 'drop', got {truncation!r}")
        if on_bad_row not in ("error", "skip"):
            raise ConfigError(f"dataset.on_bad_row: expected 'error' or 'skip', got {on_bad_row!r}")
        if max_length < 2:
            raise ConfigError(f"dataset.max_length: expected at least 2 tokens, got {max_length}")
        self.tokenizer = (
            load_tokenizer(tokenizer, trust_remote_code) if isinstance(tokenizer, str) else tokenizer
        )
        self.max_length = max_length
        self.pack_to_max_length = pack_to_max_length
        self.settings = EncodeSettings(
            chat_template=resolve_chat_template(self.tokenizer, chat_template),
            max_length=max_length,
            truncation=truncation,
            on_bad_row=on_bad_row,
        )
        self.specs = parse_sources(sources, path)
        cache_root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        token_fp = tokenizer_fingerprint(self.tokenizer)

        parts, self.source_stats = [], []
        for spec in self.specs:
            data, stats = self._prepare(spec, format, token_fp, cache_root, num_proc, use_cache)
            parts.append(data)
            self.source_stats.append(stats)
        self.data, self.order = self._mix(parts, seed)
        self.lengths = self._column("length")[self.order]
        self.rows = pack(self.lengths, max_length) if pack_to_max_length else None
        self._tokens = ListColumns(self.data, ("input_ids", "labels"))
        logging.getLogger("xtune").info(self.summary())

    # -- building --------------------------------------------------------------------------------------
    def _prepare(
        self,
        spec: SourceSpec,
        default_format: Any,
        token_fp: str,
        cache_root: Path,
        num_proc: int,
        use_cache: bool,
    ) -> tuple[Any, dict]:
        source: Source = resolve_source(spec, skip_bad_lines=self.settings.on_bad_row == "skip")
        format_spec = spec.format if spec.format is not None else default_format
        format_key = dict(format_spec) if isinstance(format_spec, dict) else format_spec
        key = fingerprint(source.fingerprint_parts(), format_key, token_fp, asdict(self.settings))
        return shared_build(
            cache_root / key,
            lambda work: preprocess_source(
                source, format_spec, self.tokenizer, self.settings, work, num_proc
            ),
            use_cache=use_cache,
        )

    def _mix(self, parts: list[Any], seed: int) -> tuple[Any, np.ndarray]:
        """Concatenate sources and the sample order that applies their weights."""
        import datasets

        rng = np.random.default_rng(seed)
        order, offset = [], 0
        for spec, part, stats in zip(self.specs, parts, self.source_stats):
            n = len(part)
            if n == 0:
                raise DataError(
                    f"{spec.key}: `{spec.path}` has no usable samples ({stats['num_rows']} rows, "
                    f"{stats['num_skipped']} skipped, {stats['num_dropped']} dropped)"
                )
            whole, fraction = divmod(spec.weight, 1.0)
            picked = [np.arange(n)] * int(whole)
            extra = round(fraction * n)
            if extra:
                picked.append(np.sort(rng.choice(n, size=extra, replace=False)))
            stats["num_samples"] = sum(len(p) for p in picked)
            if not stats["num_samples"]:
                raise DataError(f"{spec.key}.weight: {spec.weight} of {n} samples rounds to none; raise it")
            order.extend(index + offset for index in picked)
            offset += n
        data = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        return data, np.concatenate(order)

    def _column(self, name: str) -> np.ndarray:
        return np.asarray(self.data.with_format("numpy", columns=[name])[name], dtype=np.int64)

    # -- access ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.order)

    def sample(self, index: int) -> dict:
        """One (unpacked) sample: ``input_ids`` and ``labels`` as int64 arrays."""
        row = int(self.order[index])
        return {name: self._tokens.get(name, row).astype(np.int64) for name in ("input_ids", "labels")}

    def __getitem__(self, index: int) -> dict:
        if self.rows is None:
            return self.sample(index)
        samples = [self.sample(i) for i in self.rows[index]]
        return {
            "input_ids": np.concatenate([s["input_ids"] for s in samples]),
            "labels": np.concatenate([s["labels"] for s in samples]),
            "position_ids": np.concatenate([np.arange(len(s["input_ids"])) for s in samples]),
        }

    # -- reporting -------------------------------------------------------------------------------------
    def statistics(self) -> dict:
        """Counts over all sources (after weights), token totals and packing efficiency."""
        trained = self._column("num_trained")[self.order]
        rows = self.rows if self.rows is not None else pack(self.lengths, self.max_length)
        total = int(self.lengths.sum())
        return {
            "num_samples": len(self.order),
            "num_rows": len(self) if self.rows is not None else len(self.order),
            "num_tokens": total,
            "num_trained_tokens": int(trained.sum()),
            "trained_token_fraction": float(trained.sum() / total) if total else 0.0,
            "num_truncated": sum(s["num_truncated"] for s in self.source_stats),
            "num_dropped": sum(s["num_dropped"] for s in self.source_stats),
            "num_skipped": sum(s["num_skipped"] for s in self.source_stats),
            "max_length": self.max_length,
            "packed": self.rows is not None,
            "packing_efficiency": packing_efficiency(self.lengths, rows, self.max_length),
            "sources": self.source_stats,
        }

    def summary(self) -> str:
        """A one-paragraph account of what preprocessing kept, cut and dropped."""
        lines = []
        for s in self.source_stats:
            lines.append(
                f"  {s['source']} ({s['format']}): {s['num_rows']} rows → {s['num_samples']} samples; "
                f"{s['num_truncated']} truncated, {s['num_dropped']} dropped, {s['num_skipped']} skipped"
            )
            lines += [f"    skipped: {e}" for e in s["skipped_examples"]]
            lines += [f"    dropped: {e}" for e in s["dropped_examples"]]
        rows = f", packed into {len(self.rows)} rows of {self.max_length}" if self.rows is not None else ""
        return f"SFTDataset: {len(self.order)} samples, {int(self.lengths.sum())} tokens{rows}\n" + "\n".join(
            lines
        )

    def decode_marked(self, index: int, start: str = "«", end: str = "»") -> str:
        """Sample ``index`` decoded, trained spans wrapped in ``start``/``end``."""
        sample = self.sample(index)
        pieces, current, trained = [], [], None
        for token, label in zip(sample["input_ids"].tolist(), sample["labels"].tolist()):
            is_trained = label != IGNORE_INDEX
            if trained is not None and is_trained != trained:
                pieces.append((trained, current))
                current = []
            current.append(token)
            trained = is_trained
        if current:
            pieces.append((trained, current))
        text = ""
        for is_trained, ids in pieces:
            piece = self.tokenizer.decode(ids)
            text += f"{start}{piece}{end}" if is_trained else piece
        return text
