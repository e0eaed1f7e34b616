"""Packing vs padding: trained tokens per second and padding waste on an SFT-like length distribution.

Sample lengths are log-normal (mean ~300 tokens, clipped to 2048). The same samples are trained once
as padded batches (``batch_size`` samples padded to the longest) and once packed into rows of
``max_length`` tokens with xtune's planner and collate (per-sample position ids, no attention across
samples, each row padded to ``max_length``), forward + backward + AdamW step of the embedded tiny Qwen2 with LoRA. Token ids are random:
only the lengths matter here. Throughput is real (non-padding) tokens per CPU second of this process,
so it is comparable across runs on a shared machine; wall-clock figures are printed too.

    python benchmarks/packing.py [--samples 192] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def lognormal_lengths(n: int, mean: float, cap: int, seed: int) -> np.ndarray:
    sigma = 0.9
    rng = np.random.default_rng(seed)
    return rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n).astype(int).clip(8, cap)


def make_samples(lengths: np.ndarray, vocab: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    samples = []
    for n in lengths:
        ids = rng.integers(3, vocab, int(n))
        labels = ids.copy()
        labels[0] = -100
        samples.append({"input_ids": ids, "labels": labels})
    return samples


def run(model, optimizer, batches: list[dict], real_tokens: int) -> dict:
    """Train on every batch; returns real/padded token counts and CPU/wall seconds (after one warm-up)."""

    def step(batch):
        loss = model(**batch, mode="loss")["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(batches[0])  # warm-up (allocator, kernels), not timed
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        step(batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    padded = sum(b["input_ids"].numel() for b in batches)
    return {
        "steps": len(batches),
        "real_tokens": real_tokens,
        "padded_tokens": padded,
        "cpu_s": cpu,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=192)
    parser.add_argument("--mean", type=float, default=300)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=8, help="samples per padded batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: per-core figures)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("DS_ACCELERATOR", "cpu")  # a CPU benchmark; keeps DeepSpeed's notice off stdout
    import torch

    from xtune.dataset import sft_collate
    from xtune.dataset.packing import pack, packing_efficiency
    from xtune.model.sft import SupervisedFinetune

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = SupervisedFinetune(path="embedded:tiny-qwen2", adapter=dict(type="LoRA", r=16, alpha=32))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    vocab = model.hf_model().config.vocab_size

    lengths = lognormal_lengths(args.samples, args.mean, args.max_length, args.seed)
    samples = make_samples(lengths, vocab, args.seed)
    padded_batches = [
        sft_collate(samples[i : i + args.batch_size]) for i in range(0, len(samples), args.batch_size)
    ]
    rows = pack(lengths, args.max_length)
    packed_batches = [
        sft_collate(
            [
                {
                    "input_ids": np.concatenate([samples[i]["input_ids"] for i in row]),
                    "labels": np.concatenate([samples[i]["labels"] for i in row]),
                    "position_ids": np.concatenate([np.arange(lengths[i]) for i in row]),
                }
            ],
            pad_to_multiple_of=args.max_length,  # fixed-width rows, as a batch of several rows would be
        )
        for row in rows
    ]
    real = int(lengths.sum())
    padded = run(model, optimizer, padded_batches, real)
    packed = run(model, optimizer, packed_batches, real)
    for result in (padded, packed):
        result["padding_waste"] = 1 - result["real_tokens"] / result["padded_tokens"]
        result["tokens_per_cpu_s"] = result["real_tokens"] / result["cpu_s"]
        result["tokens_per_wall_s"] = result["real_tokens"] / result["wall_s"]
    report = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch threads {args.threads}",
        "model": "embedded tiny Qwen2 (~0.84M params) + LoRA r=16, fp32, CPU",
        "samples": args.samples,
        "length_mean": float(lengths.mean()),
        "length_max": int(lengths.max()),
        "max_length": args.max_length,
        "batch_size_padded": args.batch_size,
        "padded": padded,
        "packed": packed,
        "packing_efficiency": packing_efficiency(lengths, rows, args.max_length),
        "speedup_tokens_per_s": packed["tokens_per_cpu_s"] / padded["tokens_per_cpu_s"],
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{args.samples} samples, log-normal lengths (mean {report['length_mean']:.0f}, max "
        f"{report['length_max']}), {report['model']}; {report['machine']}"
    )
    print(
        f"{'':28}{'steps':>7}{'real tok':>10}{'padded tok':>12}{'waste':>8}{'tok/s (cpu)':>13}{'tok/s (wall)':>14}"
    )
    for name, r in (
        (f"padded, batch {args.batch_size}", padded),
        (f"packed, rows of {args.max_length}", packed),
    ):
        print(
            f"{name:28}{r['steps']:>7}{r['real_tokens']:>10}{r['padded_tokens']:>12}{r['padding_waste']:>8.1%}"
            f"{r['tokens_per_cpu_s']:>13.0f}{r['tokens_per_wall_s']:>14.0f}"
        )
    print(f"packing: {report['speedup_tokens_per_s']:.2f}x the trained tokens per second of padding")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
