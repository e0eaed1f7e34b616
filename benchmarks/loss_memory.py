"""Peak memory and time of the causal-LM loss (forward + backward): CrossEntropy vs ChunkedCrossEntropy.

Each variant runs in a fresh interpreter on the CPU and reports the rise of its peak resident memory
(``VmHWM`` in /proc/self/status, reset just before the loss by writing 5 to /proc/self/clear_refs) over
what the inputs already use. Tensors this large are mmap-allocated and returned on free, so resident
memory follows torch's live CPU bytes. On a GPU the same ratios hold for ``torch.cuda.max_memory_allocated``.

    python benchmarks/loss_memory.py [--tokens 4096] [--vocab 151936] [--hidden 64] [--chunk-sizes 1024,256]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, emit, machine, table  # noqa: E402

PROBE = textwrap.dedent(
    """
    import json, sys, time
    import torch
    from torch import nn
    from xtune.model.loss import ChunkedCrossEntropy, CrossEntropy

    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

    tokens, vocab, hidden, chunk = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    head = nn.Linear(hidden, vocab, bias=False)
    states = torch.randn(1, tokens, hidden, requires_grad=True)
    labels = torch.randint(0, vocab, (1, tokens))
    labels[0, : tokens // 4] = -100  # a masked prompt, as in SFT
    loss_fn = ChunkedCrossEntropy(chunk_size=chunk) if chunk else CrossEntropy()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS")
    start = time.perf_counter()
    loss = loss_fn(states, head, labels)
    loss.backward()
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_bytes": status("VmHWM") - base, "seconds": seconds, "loss": loss.item()}))
    """
)


def measure(tokens: int, vocab: int, hidden: int, chunk: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tokens), str(vocab), str(hidden), str(chunk)],
        capture_output=True, text=True, env=env, cwd=REPO, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--chunk-sizes", default="1024,256", help="ChunkedCrossEntropy chunk sizes to try")
    parser.add_argument("--skip-naive", action="store_true", help="skip CrossEntropy (needs ~3x the logits)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    logits_bytes = args.tokens * args.vocab * 4
    variants = [] if args.skip_naive else [("CrossEntropy", 0)]
    variants += [(f"ChunkedCrossEntropy({c})", int(c)) for c in args.chunk_sizes.split(",") if c]
    results = []
    for name, chunk in variants:
        result = measure(args.tokens, args.vocab, args.hidden, chunk)
        results.append({"loss_fn": name, "chunk_size": chunk or None, **result,
                        "peak_over_fp32_logits": result["peak_bytes"] / logits_bytes})  # fmt: skip
    out = {
        "benchmark": "loss_memory",
        "tokens": args.tokens,
        "vocab": args.vocab,
        "hidden": args.hidden,
        "fp32_logits_bytes": logits_bytes,
        "results": results,
        "machine": machine(),
    }
    rows = [{**r, "peak MiB": r["peak_bytes"] / 2**20} for r in results]
    human = table(rows, ["loss_fn", "peak MiB", "peak_over_fp32_logits", "seconds", "loss"])
    human += (
        f"\n\n{args.tokens} tokens x {args.vocab} vocab: fp32 logits alone are {logits_bytes / 2**20:.0f} MiB"
    )
    emit(out, args.json, human, "loss_memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
