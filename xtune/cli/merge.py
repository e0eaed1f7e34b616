"""``xtune merge --base PATH --adapter DIR --out DIR``: merge a PEFT adapter into its 16-bit base model."""

from __future__ import annotations

import argparse

from xtune.cli.common import user_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtune merge", description=__doc__)
    parser.add_argument("--base", required=True, help="the unquantized base model: local dir or hub id")
    parser.add_argument(
        "--adapter", required=True, help="a PEFT adapter dir (work_dir/hf or `xtune convert` output)"
    )
    parser.add_argument("--out", required=True, help="output directory of the merged model (created)")
    parser.add_argument(
        "--dtype", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
        help="dtype of the merged weights (auto: the base model's own)",
    )  # fmt: skip
    parser.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard, e.g. 2GB")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="run code shipped with the base model"
    )
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from xtune.engine.export import merge_adapter

    result = merge_adapter(
        args.base,
        args.adapter,
        args.out,
        dtype=args.dtype,
        max_shard_size=args.max_shard_size,
        trust_remote_code=args.trust_remote_code,
    )
    print(f"xtune: merged model written to {result.out_dir}")
    return 0
