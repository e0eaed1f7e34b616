"""``xtune train CFG --dry-run``: every stage of a long run, in seconds, before committing to it.

Builds the real model, data and strategy from the config, then trains a few iterations, saves a
checkpoint, resumes from it for one more iteration, converts it to a Hugging Face artefact, and runs
the chat evaluation (and the validation loop when the config has one). A crash at save, resume,
export or evaluation time shows up now instead of hours into training. Everything goes to
``WORK_DIR/dry_run`` (recreated each time), never touching the real run's checkpoints.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from mmengine.config import Config

from xtune.errors import XtuneError


@dataclass
class DryRunReport:
    """What the dry run exercised, for the summary printed by ``xtune train --dry-run``."""

    work_dir: str
    losses: dict[int, float] = field(default_factory=dict)
    checkpoint: str | None = None
    checkpoint_mib: float = 0.0
    resumed_iters: list[int] = field(default_factory=list)
    export: str | None = None
    export_kind: str | None = None
    chat: list[dict] = field(default_factory=list)
    validated: bool = False

    def summary(self) -> str:
        lines = [
            f"dry run OK in {self.work_dir}",
            f"  train:   {len(self.losses)} iterations, losses "
            + ", ".join(f"{v:.4f}" for _, v in sorted(self.losses.items())),
            f"  save:    {self.checkpoint} ({self.checkpoint_mib:.1f} MiB)",
            f"  resume:  continued at iteration {self.resumed_iters[0] if self.resumed_iters else '?'}",
            f"  convert: {self.export_kind} in {self.export}",
            f"  eval:    {len(self.chat)} chat replies"
            + (
                f", e.g. {self.chat[-1]['prompt']!r} -> {self.chat[-1]['response'][:60]!r}"
                if self.chat
                else ""
            )
            + ("; validation loop ran" if self.validated else ""),
        ]
        return "\n".join(lines)


def dry_run(cfg: Config, launcher: str = "none", work_dir: str | None = None, iters: int = 2) -> DryRunReport:
    """Run the dry run of ``cfg`` (see the module docstring); raises on the first stage that fails."""
    from mmengine.dist import barrier, get_world_size, is_main_process

    from xtune.engine.checkpoint import checkpoint_step, last_complete_checkpoint
    from xtune.engine.export import convert_checkpoint
    from xtune.engine.logs import losses_by_iter
    from xtune.engine.runner import build_runner, resolve_work_dir

    root = os.path.join(resolve_work_dir(cfg, work_dir), "dry_run")
    if int(os.environ.get("RANK", "0")) == 0:
        shutil.rmtree(root, ignore_errors=True)
    report = DryRunReport(work_dir=root)

    # 1. build everything, train, evaluate (chat before/after, validation), save
    runner = build_runner(shrink(cfg, iters), launcher=launcher, work_dir=root)
    _train(runner)
    report.validated = runner.val_loop is not None
    report.losses = losses_by_iter(root)
    checkpoint = last_complete_checkpoint(root)
    if checkpoint is None or checkpoint_step(checkpoint) != iters:
        raise XtuneError(
            f"dry run: no complete checkpoint of iteration {iters} in {root} (found {checkpoint})"
        )
    report.checkpoint = checkpoint
    report.checkpoint_mib = _size(checkpoint) / 2**20

    # 2. resume from it for one more iteration (build_runner gives it a log dir of its own).
    resumed_cfg = shrink(cfg, iters + 1)
    resumed_cfg.resume, resumed_cfg.load_from = True, checkpoint
    runner = build_runner(resumed_cfg, launcher=launcher, work_dir=root)
    _train(runner)
    rows = _read_jsonl(os.path.join(runner.log_dir, "vis_data", "scalars.json"))
    report.resumed_iters = sorted(row["iter"] for row in rows if "loss" in row)
    if report.resumed_iters != [iters + 1]:
        raise XtuneError(
            f"dry run: resuming {checkpoint} trained iterations {report.resumed_iters}, not [{iters + 1}]"
        )

    # 3. convert the checkpoint (what `xtune convert` does)
    report.export = os.path.join(root, "converted")
    if is_main_process():
        report.export_kind = convert_checkpoint(cfg, checkpoint, report.export, progress=False).kind
    if get_world_size() > 1:
        barrier()
    report.chat = _read_jsonl(os.path.join(root, "eval_chat.jsonl"))
    return report


def shrink(cfg: Config, iters: int) -> Config:
    """``cfg`` cut to ``iters`` iterations with a checkpoint at the end, logging every step, short chats."""
    cfg = cfg.copy()
    cfg.experiment_name = None  # a fresh, unique one per phase (see prepare_config)
    train_cfg: dict[str, Any] = dict(type="IterBasedTrainLoop", max_iters=iters)
    if cfg.get("val_dataloader") and cfg.get("val_cfg") is not None:
        train_cfg["val_interval"] = iters
    cfg.train_cfg = train_cfg
    hooks = cfg.setdefault("default_hooks", {})
    checkpoint = hooks.get("checkpoint") or dict(type="SafeCheckpointHook")
    checkpoint.update(interval=iters, by_epoch=False, max_keep_ckpts=-1, save_last=True)
    hooks["checkpoint"] = checkpoint
    if hooks.get("logger"):
        hooks["logger"]["interval"] = 1
    prompts = list(cfg.get("chat_prompts") or []) or ["Hello! Who are you?"]
    custom = [dict(h) for h in cfg.get("custom_hooks") or []]
    chat = [h for h in custom if h.get("type") == "EvaluateChatHook"]
    if not chat:
        custom.append(dict(type="EvaluateChatHook"))
        chat = custom[-1:]
    for hook in chat:
        hook.update(every_n_iters=0, max_new_tokens=min(hook.get("max_new_tokens", 16), 16))
        hook["prompts"] = hook.get("prompts") or prompts
    cfg.custom_hooks = custom
    return cfg


def _train(runner: Any) -> None:
    from xtune.engine.hooks.checkpoint import restore_signal_handlers

    try:
        runner.train()
    finally:
        restore_signal_handlers()


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _read_jsonl(path: str) -> list[dict]:
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
