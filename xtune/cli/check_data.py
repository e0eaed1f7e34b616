"""``xtune check-data CONFIG``: preprocess the config's dataset and report what training will see.

Counts (samples, tokens, truncated, dropped, skipped), the trained-token fraction, packing and padding
efficiency, a length histogram and one decoded sample with its trained spans marked ``«like this»``.
Bad rows fail here with their file and line, before any model is loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from xtune.cli.common import add_config_args, load_and_validate, user_errors
from xtune.errors import ConfigError

BAR_WIDTH = 40


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtune check-data", description=__doc__)
    add_config_args(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    parser.add_argument(
        "--loader", default="train_dataloader", help="which dataloader's dataset to check (default: train)"
    )
    parser.add_argument("--index", type=int, default=0, help="which sample to decode (default: 0)")
    parser.add_argument("--bins", type=int, default=10, help="length histogram bins (default: 10)")
    return parser


def build_dataset(cfg, loader_key: str = "train_dataloader"):
    """The dataset of ``cfg[loader_key]``, with the tokenizer filled in as the training run does."""
    loader = cfg.get(loader_key)
    if not loader or not loader.get("dataset"):
        raise ConfigError(f"{loader_key}.dataset: the config has no dataset there")
    dataset_cfg = dict(loader["dataset"])
    if dataset_cfg.get("tokenizer") is None:
        tokenizer = cfg.get("tokenizer") or cfg.get("model", {}).get("path")
        if not tokenizer:
            raise ConfigError("tokenizer: set `tokenizer` or `model.path` so the data can be tokenized")
        dataset_cfg["tokenizer"] = tokenizer
    from xtune.registry import DATASETS

    dataset = DATASETS.build(dataset_cfg)
    if not hasattr(dataset, "statistics"):
        raise ConfigError(f"{loader_key}.dataset: {type(dataset).__name__} has no statistics() to report")
    return dataset, loader.get("batch_size", 1)


def report(dataset, batch_size: int, index: int = 0, bins: int = 10) -> dict:
    """Everything check-data prints, as one dict."""
    import numpy as np

    from xtune.dataset.packing import padded_efficiency

    stats = dataset.statistics()
    lengths = dataset.lengths
    low, high = int(lengths.min()), int(lengths.max())
    width = -(-(high - low + 1) // max(1, bins))  # integer-wide bins covering [low, high]
    edges = np.arange(low, high + width + 1, width)
    counts, _ = np.histogram(lengths, bins=edges)
    stats["padding_efficiency"] = padded_efficiency(lengths, batch_size)
    stats["batch_size"] = batch_size
    stats["length"] = {"min": int(lengths.min()), "mean": float(lengths.mean()), "max": int(lengths.max())}
    stats["histogram"] = {"edges": [int(e) for e in edges], "counts": [int(c) for c in counts]}
    stats["sample_index"] = index
    stats["sample"] = dataset.decode_marked(index)
    return stats


def render(stats: dict, title: str) -> str:
    lines = [f"Dataset of {title}"]
    for s in stats["sources"]:
        lines.append(
            f"  {s['source']} ({s['format']}): {s['num_rows']} rows -> {s['num_samples']} samples, "
            f"{s['num_truncated']} truncated, {s['num_dropped']} dropped, {s['num_skipped']} skipped"
        )
        lines += [f"      skipped  {e}" for e in s["skipped_examples"]]
        lines += [f"      dropped  {e}" for e in s["dropped_examples"]]
    n, tokens = stats["num_samples"], stats["num_tokens"]
    length = stats["length"]
    lines += [
        f"  samples               {n}",
        f"  tokens                {tokens}  (per sample min {length['min']}, mean {length['mean']:.1f}, "
        f"max {length['max']})",
        f"  trained tokens        {stats['num_trained_tokens']}  ({stats['trained_token_fraction']:.1%})",
        f"  truncated / dropped / skipped   {stats['num_truncated']} / {stats['num_dropped']} / "
        f"{stats['num_skipped']}  (max_length {stats['max_length']})",
        f"  packing efficiency    {stats['packing_efficiency']:.4f}  (rows of {stats['max_length']} tokens"
        + (
            f", packing on: {stats['num_rows']} rows)"
            if stats["packed"]
            else ", packing off: pack_to_max_length=True)"
        ),
        f"  padding efficiency    {stats['padding_efficiency']:.4f}  (unpacked, batches of {stats['batch_size']})",
        "",
        "Sample lengths (tokens, inclusive ranges):",
    ]
    edges, counts = stats["histogram"]["edges"], stats["histogram"]["counts"]
    top = max(counts) or 1
    for low, high, count in zip(edges, edges[1:], counts):
        bar = "#" * max(1 if count else 0, round(BAR_WIDTH * count / top))
        lines.append(f"  {low:6d} - {high - 1:6d} | {bar} {count}")
    lines += ["", f"Sample {stats['sample_index']} (trained spans in «»):", stats["sample"]]
    return "\n".join(lines)


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # With --json, stdout carries only the JSON object: whatever libraries print goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        cfg = load_and_validate(args)
        dataset, batch_size = build_dataset(cfg, args.loader)
        if not 0 <= args.index < len(dataset.order):
            raise ConfigError(f"--index: the dataset has {len(dataset.order)} samples, got {args.index}")
        stats = report(dataset, batch_size, args.index, args.bins)
    if args.json:
        print(json.dumps(stats))
    else:
        print(render(stats, f"{args.config} ({args.loader})"))
    sys.stdout.flush()
    return 0
