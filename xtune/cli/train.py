"""``xtune train CONFIG``: validate, check the model is reachable, then train with mmengine."""

from __future__ import annotations

import argparse
import os

from xtune.cli.common import add_config_args, load_and_validate, user_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xtune train", description=__doc__)
    add_config_args(parser)
    parser.add_argument("--work-dir", help="where checkpoints, logs and the HF export go")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        metavar="CKPT",
        help="resume from CKPT, or from the last checkpoint in the work dir when CKPT is omitted",
    )
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="train 2 iterations, save, resume, convert and evaluate in WORK_DIR/dry_run, then stop: "
        "catches save/eval/export crashes before a long run",
    )
    parser.add_argument(
        "--deepspeed",
        metavar="PRESET|JSON",
        help="shorthand for strategy=dict(type='DeepSpeed', ...): zero1, zero2, zero2_offload, zero3, "
        "zero3_offload, or a DeepSpeed JSON file (launch with torchrun and --launcher pytorch)",
    )
    parser.add_argument(
        "--skip-preflight",
        action="store_true",
        help="start even when the memory plan says the run does not fit its GPUs",
    )
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0, help=argparse.SUPPRESS)
    return parser


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    cfg = load_and_validate(args)
    if args.deepspeed:
        from xtune.strategy.deepspeed import strategy_from_flag

        cfg.strategy = strategy_from_flag(args.deepspeed, cfg.get("strategy"))
    from xtune.engine.runner import check_strategy

    check_strategy(cfg, args.launcher)  # strategy x launcher x model rules, before planning or loading

    from xtune.hub import resolve_model_path
    from xtune.quant.prequantized import check_model_cfg

    check_model_cfg(
        cfg.model
    )  # refuse GPTQ/AWQ/... checkpoints from config.json or name, before any download
    if not args.skip_preflight:
        from xtune.planner.preflight import preflight

        preflight(cfg, launcher=args.launcher)  # stop before loading weights when the run cannot fit its GPUs
    resolve_model_path(cfg.model.path)  # fail in seconds when the weights cannot be reached
    if args.dry_run:
        from xtune.engine.dry_run import dry_run

        print(dry_run(cfg, launcher=args.launcher, work_dir=args.work_dir).summary())
        return 0
    if args.resume == "auto":
        from xtune.engine.checkpoint import last_complete_checkpoint
        from xtune.engine.runner import resolve_work_dir

        # the newest checkpoint that was completely written (never a partial file from a killed save)
        found = last_complete_checkpoint(resolve_work_dir(cfg, args.work_dir))
        if found is None:
            print("xtune: --resume: no complete checkpoint in the work dir; starting from scratch")
        cfg.resume, cfg.load_from = found is not None, found
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume

    from xtune.engine.checkpoint import stop_signal
    from xtune.engine.hooks.checkpoint import restore_signal_handlers
    from xtune.engine.runner import build_runner

    runner = build_runner(cfg, launcher=args.launcher, work_dir=args.work_dir)
    try:
        runner.train()
    finally:
        restore_signal_handlers()
    signum = stop_signal(runner)
    if signum is not None:  # SIGTERM/SIGINT: a checkpoint was saved and training stopped cleanly
        print(f"xtune: stopped by signal {signum}; continue with --resume")
        return 128 + signum
    export = os.path.join(runner.work_dir, "hf")
    if os.path.isdir(export):
        print(f"xtune: training finished; Hugging Face export in {export}")
    return 0
