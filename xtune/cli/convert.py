"""``xtune convert CKPT --config CFG --out DIR``: a training checkpoint → PEFT adapter or full HF model."""

from __future__ import annotations

import argparse

from xtune.cli.common import user_errors


def build_parser() -> argparse.ArgumentParser:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(prog="xtune convert", description=__doc__)
    parser.add_argument(
        "checkpoint",
        help="an iter_N.pth file (single process or DDP) or a DeepSpeed checkpoint directory from the work dir",
    )
    parser.add_argument("--config", required=True, help="the config the checkpoint was trained with")
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="dtype of a full model's weights (auto: the base model's); adapters keep their training dtype",
    )
    parser.add_argument("--max-shard-size", default="5GB", help="largest safetensors shard of a full model")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default=None, metavar="KEY=VALUE",
                        help="override config keys, e.g. model.path=/models/Qwen1.5-14B-Chat")  # fmt: skip
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from xtune.config import load_config, validate_config
    from xtune.engine.export import convert_checkpoint

    cfg = load_config(args.config, args.cfg_options)
    validate_config(cfg)
    result = convert_checkpoint(
        cfg, args.checkpoint, args.out, dtype=args.dtype, max_shard_size=args.max_shard_size
    )
    what = "PEFT adapter" if result.kind == "adapter" else "Hugging Face model"
    print(f"xtune: wrote a {what} ({result.tensors} tensors) to {result.out_dir}")
    return 0
