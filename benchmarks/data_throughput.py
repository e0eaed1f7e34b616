"""Preprocessing throughput: samples per second per core, demo data, the real Qwen tokenizer.

Runs xtune's tokenization step (format conversion, chat template, one batched fast-tokenizer call per
batch, label masking, Arrow write) in one process with a single-threaded tokenizer, and divides the
samples by the CPU seconds the process used, so the figure is per core even on a busy machine. Also
times the two pieces alone (template rendering, batched tokenization) and XTuner-style per-sample
``tokenizer.encode`` calls for comparison.

    python benchmarks/data_throughput.py [--samples 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core: no Rust thread pool


def timed(fn):
    """``(result, wall_s, cpu_s)`` of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20000, help="demo rows to generate (default 20000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import datasets

    from xtune.dataset.formats import Alpaca
    from xtune.dataset.preprocess import EncodeSettings, preprocess_source
    from xtune.dataset.sources import SourceSpec, resolve_source
    from xtune.dataset.template import render_with_spans, resolve_chat_template
    from xtune.testing import make_demo_samples
    from xtune.testing.qwen_tokenizer import load_qwen_tokenizer

    datasets.disable_progress_bars()
    tokenizer = load_qwen_tokenizer()
    template = resolve_chat_template(tokenizer, None)
    rows = make_demo_samples(args.samples, seed=1)
    settings = EncodeSettings(
        chat_template=template, max_length=2048, truncation="truncate", on_bad_row="error"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        source = resolve_source(SourceSpec(path=str(data)))
        source.load()  # raw JSON → Arrow is datasets' job (and cached by it), not timed here
        (encoded, stats), wall, cpu = timed(
            lambda: preprocess_source(source, "alpaca", tokenizer, settings, Path(tmp) / "work")
        )
        convert = Alpaca()
        samples = [convert(r) for r in rows]
        rendered, render_wall, render_cpu = timed(
            lambda: [render_with_spans(tokenizer, template, s["messages"])[0] for s in samples]
        )
        _, tok_wall, tok_cpu = timed(
            lambda: tokenizer(rendered, add_special_tokens=False, return_offsets_mapping=True)["input_ids"]
        )
        _, single_wall, single_cpu = timed(
            lambda: [tokenizer.encode(t, add_special_tokens=False) for t in rendered]
        )

    n = len(rows)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "tokenizer": f"Qwen (vocab {len(tokenizer)})",
        "samples": n,
        "num_tokens": int(sum(encoded["length"])),
        "samples_per_s_per_core": n / cpu,
        "samples_per_s_wall": n / wall,
        "render_template_samples_per_s_per_core": n / render_cpu,
        "batched_tokenize_samples_per_s_per_core": n / tok_cpu,
        "per_sample_encode_samples_per_s_per_core": n / single_cpu,
        "goal_samples_per_s_per_core": 2000,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"Preprocessing throughput, {result['tokenizer']}, {n} demo samples, one process ({result['machine']})"
    )
    print(f"  xtune preprocessing (convert+template+tokenize+mask+write) {result['samples_per_s_per_core']:8.0f} samples/s/core  "
          f"({result['samples_per_s_wall']:.0f}/s wall)")  # fmt: skip
    print(f"    chat template rendering alone                           {result['render_template_samples_per_s_per_core']:8.0f} samples/s/core")  # fmt: skip
    print(f"    batched fast-tokenizer call alone                       {result['batched_tokenize_samples_per_s_per_core']:8.0f} samples/s/core")  # fmt: skip
    print(f"    per-sample tokenizer.encode calls (for comparison)      {result['per_sample_encode_samples_per_s_per_core']:8.0f} samples/s/core")  # fmt: skip
    print(f"  goal: {result['goal_samples_per_s_per_core']} samples/s/core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
