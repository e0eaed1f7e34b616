"""``xtune plan``: will this fine-tune fit these GPUs, why, and what fits instead (no weights are loaded).

    xtune plan configs/qwen1_5_14b_qlora.py --gpus 2x24GB [--strategy zero2] [--seq-len 4096] [--json]
    xtune plan --model Qwen/Qwen1.5-72B-Chat --method qlora --gpus 8x24GB

Exit status: 0 when the plan fits, 1 when it does not, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import sys

from xtune.cli.common import add_cfg_options, user_errors
from xtune.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    from xtune.planner.components import METHODS
    from xtune.planner.split import STRATEGY_CONFIGS

    parser = argparse.ArgumentParser(
        prog="xtune plan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", nargs="?", help="an xtune config (or use --model and --method)")
    parser.add_argument("--model", help="a hub id or model directory, planned without a config")
    parser.add_argument(
        "--method", choices=list(METHODS), default="qlora", help="with --model (default: qlora)"
    )
    parser.add_argument("--gpus", help="COUNTxMEMORY, e.g. 2x24GB or 8x80GB (default: the config's `gpus`)")
    parser.add_argument(
        "--cpu-ram", help="CPU RAM per node for offloaded states, e.g. 512GB (default: not checked)"
    )
    parser.add_argument("--strategy", choices=list(STRATEGY_CONFIGS), help="plan this strategy instead")
    parser.add_argument("--seq-len", type=int, help="tokens per row (default: the dataset's max_length)")
    parser.add_argument("--batch-size", type=int, help="rows per GPU per step (default: the dataloader's)")
    parser.add_argument(
        "--no-gradient-checkpointing",
        action="store_true",
        help="with --model: store every layer's activations (default: checkpointing on)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    add_cfg_options(parser, help="override config keys, e.g. model.adapter.r=16")
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from xtune.planner import make_plan, scenario_for_model, scenario_from_config
    from xtune.planner.report import render
    from xtune.planner.units import parse_gpus, parse_memory

    for name in ("seq_len", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: must be at least 1")
    gpus = parse_gpus(args.gpus) if args.gpus else None
    cpu_ram = parse_memory(args.cpu_ram, "--cpu-ram") if args.cpu_ram else None
    if args.config and args.model:
        raise ConfigError(
            "give either CONFIG or --model, not both (--cfg-options model.path=... changes a config's model)"
        )
    if args.config:
        from xtune.config import load_config

        cfg = load_config(args.config, args.cfg_options)
        scenario = scenario_from_config(cfg, gpus, args.strategy, args.seq_len, args.batch_size, cpu_ram)
    elif args.model:
        if gpus is None:
            raise ConfigError("--gpus: say which GPUs to plan for, e.g. --gpus 8x24GB")
        scenario = scenario_for_model(
            args.model,
            args.method,
            gpus,
            args.strategy,
            seq_len=args.seq_len or 2048,
            batch_size=args.batch_size or 1,
            gradient_checkpointing=not args.no_gradient_checkpointing,
            cpu_ram=cpu_ram,
        )
    else:
        raise ConfigError("give a CONFIG, or --model MODEL --method qlora|lora|full --gpus NxMEM")
    plan = make_plan(scenario)
    if args.json:
        json.dump(plan.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        print(render(plan))
    return 0 if plan.fits else 1
