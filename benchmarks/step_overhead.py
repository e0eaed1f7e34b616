"""xtune's training step against a hand-written peft loop: same tiny model, batches, optimizer, threads.

xtune side: ``build_runner`` on the demo config and ``runner.train()``: mmengine's train loop with
every configured hook, the data pipeline (dataset, sampler, collate), SupervisedFinetune, the optimizer
wrapper with gradient clipping and the LR schedulers. Plain side: ``AutoModelForCausalLM`` +
``peft.get_peft_model`` with the same LoRA settings, a torch DataLoader over the same token rows (as
in-memory lists) in the same order, the HF model's own loss, AdamW, gradient clipping and a LambdaLR
schedule. Both fp32, same number of torch threads, one process.

Interleaving: a hook that runs after every other hook ends each block of ``--block`` xtune iterations by
running the next ``--block`` plain steps, so the two alternate in blocks of a few hundred milliseconds
all through one training run, and load changes on a shared machine hit both alike. Each block is timed
end to end (batch fetch, collate, forward, backward, clip, optimizer and scheduler step, hooks) in
process CPU time (all threads: what the step costs, mostly immune to other processes on the machine)
and wall-clock time. ``xtune_over_plain`` is the median over blocks of xtune's CPU time over the plain
loop's; the wall-clock median is reported beside it. Both sides first run ``--warmup`` untimed steps.
The first step's loss of both must agree (LoRA's B starts at zero, so it is the base model's loss on
the first batch): same model, same data.

    python benchmarks/step_overhead.py [--blocks 30] [--block 10] [--warmup 10] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, emit, machine, median, table  # noqa: E402

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("XTUNE_CACHE", str(REPO / ".cache" / "xtune"))
DEMO_CONFIG = REPO / "configs" / "demo" / "tiny_qwen_lora.py"


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


class PlainLoop:
    """The hand-written baseline: transformers + peft + torch, nothing else."""

    def __init__(self, model_dir: str, rows: list[dict], order: list[int], settings: dict) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from torch.utils.data import DataLoader
        from transformers import AutoModelForCausalLM

        self.rows, self.s = rows, settings
        s = settings
        torch.manual_seed(s["seed"])
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        model.config.use_cache = False
        lora = LoraConfig(
            r=s["r"], lora_alpha=s["alpha"], lora_dropout=s["dropout"], target_modules=s["target_modules"],
            modules_to_save=s["modules_to_save"], task_type="CAUSAL_LM",
        )  # fmt: skip
        self.model = get_peft_model(model, lora)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=s["lr"], betas=s["betas"], weight_decay=s["weight_decay"]
        )
        warm = s["warmup_iters"]
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda i: (
                s["start_factor"] + (1 - s["start_factor"]) * i / warm
                if i < warm
                else 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, s["max_iters"] - warm)))
            ),
        )
        loader = DataLoader(rows, batch_size=s["batch_size"], sampler=order, collate_fn=self.collate)
        self.batches = iter(loader)
        self.first_loss: float | None = None

    def collate(self, rows: list[dict]) -> dict:
        import torch

        longest = max(len(r["input_ids"]) for r in rows)
        batch = {
            "input_ids": torch.full((len(rows), longest), self.s["pad_id"], dtype=torch.long),
            "labels": torch.full((len(rows), longest), -100, dtype=torch.long),
            "attention_mask": torch.zeros((len(rows), longest), dtype=torch.long),
        }
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            batch["input_ids"][i, :n] = torch.as_tensor(row["input_ids"])
            batch["labels"][i, :n] = torch.as_tensor(row["labels"])
            batch["attention_mask"][i, :n] = 1
        return batch

    def steps(self, count: int) -> None:
        import torch

        for _ in range(count):
            batch = next(self.batches)
            loss = self.model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, self.s["max_norm"])
            self.optimizer.step()
            self.schedule.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.first_loss is None:
                self.first_loss = loss.item()


class Interleaver:
    """Called after each xtune iteration: closes xtune blocks, runs and times the plain blocks."""

    def __init__(self, plain: PlainLoop, warmup: int, block: int, blocks: int) -> None:
        self.plain, self.warmup, self.block, self.blocks = plain, warmup, block, blocks
        self.xtune: list[tuple[float, float]] = []  # (wall, cpu) seconds per block
        self.baseline: list[tuple[float, float]] = []
        self.first_loss: float | None = None
        self._start: tuple[float, float] | None = None

    def after_iter(self, done: int, loss: float) -> None:
        """``done``: xtune iterations finished so far."""
        if self.first_loss is None:
            self.first_loss = loss
        if done == self.warmup:
            self.plain.steps(self.warmup)  # untimed
        elif done > self.warmup and (done - self.warmup) % self.block == 0 and len(self.xtune) < self.blocks:
            end = clock()
            self.xtune.append((end[0] - self._start[0], end[1] - self._start[1]))
            start = clock()
            self.plain.steps(self.block)
            end = clock()
            self.baseline.append((end[0] - start[0], end[1] - start[1]))
        else:
            return
        self._start = clock()  # the next xtune block starts now


_ACTIVE: list[Interleaver] = []


def _register_hook() -> str:
    """Register the hook that runs after every other hook and hands over to the Interleaver.

    Once per loaded copy of this module, replacing an earlier copy's class (``force``): the hook must
    see this copy's ``_ACTIVE``.
    """
    global _REGISTERED
    from mmengine.hooks import Hook

    from xtune.registry import HOOKS

    name = "BenchmarkInterleaveHook"
    if not _REGISTERED:

        class BenchmarkInterleaveHook(Hook):
            priority = "LOWEST"

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
                loss = float(outputs["loss"].detach()) if outputs and "loss" in outputs else float("nan")
                _ACTIVE[-1].after_iter(batch_idx + 1, loss)

        HOOKS.register_module(name=name, module=BenchmarkInterleaveHook, force=True)
        _REGISTERED = True
    return name


_REGISTERED = False


def plain_settings(cfg: Any, pad_id: int) -> dict:
    """The demo config's model/optimizer/schedule settings, for the plain loop to copy."""
    adapter = cfg.model.get("adapter", {})
    optim = cfg.optim_wrapper
    warm = next((p for p in cfg.param_scheduler if p["type"] == "LinearLR"), {"end": 1, "start_factor": 1.0})
    return dict(
        seed=cfg.randomness.get("seed", 0),
        r=adapter.get("r", 8),
        alpha=adapter.get("alpha", 16),
        dropout=adapter.get("dropout", 0.05),
        target_modules=adapter.get("target_modules", "all-linear"),
        modules_to_save=adapter.get("modules_to_save"),
        lr=optim.optimizer.lr,
        betas=tuple(optim.optimizer.get("betas", (0.9, 0.999))),
        weight_decay=optim.optimizer.get("weight_decay", 0.0),
        max_norm=(optim.get("clip_grad") or {}).get("max_norm", float("inf")),
        warmup_iters=warm["end"],
        start_factor=warm["start_factor"],
        max_iters=cfg.train_cfg.max_iters,
        batch_size=cfg.train_dataloader.batch_size,
        pad_id=pad_id,
    )


def same_data(runner: Any, cfg: Any, steps: int) -> tuple[list[dict], list[int], dict]:
    """Token rows, sample order and settings exactly as ``runner`` will see them (not timed)."""
    loader = runner.train_dataloader
    dataset = loader.dataset
    rows = [
        {"input_ids": [int(t) for t in item["input_ids"]], "labels": [int(t) for t in item["labels"]]}
        for item in (dataset[i] for i in range(len(dataset)))
    ]
    order: list[int] = []
    epoch = 0
    while len(order) < steps * loader.batch_size:
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        order += [int(i) for i in loader.sampler]
        epoch += 1
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(0)
    collate = loader.collate_fn
    pad_id = getattr(collate, "keywords", {}).get("pad_token_id")
    if pad_id is None:
        pad_id = runner.model.hf_model().config.pad_token_id or 0
    return rows, order, plain_settings(cfg, pad_id)


def run(args: argparse.Namespace) -> dict:
    import torch

    from xtune.config import load_config
    from xtune.engine.runner import build_runner
    from xtune.hub import resolve_model_path

    iters = args.warmup + args.blocks * args.block + 1  # +1: the last iteration saves a checkpoint, untimed
    with tempfile.TemporaryDirectory() as work_dir:
        options = {**args.cfg_options, "train_cfg.max_iters": iters, "work_dir": work_dir}
        cfg = load_config(str(DEMO_CONFIG), options)
        cfg.custom_hooks = [*cfg.get("custom_hooks", []), dict(type=_register_hook())]
        with contextlib.redirect_stdout(sys.stderr):  # mmengine logs to stdout; keep that for the JSON
            runner = build_runner(cfg)
            torch.set_num_threads(args.threads)  # whatever the Runner's env setup did: same on both sides
            rows, order, settings = same_data(runner, runner.cfg, iters)
            plain = PlainLoop(resolve_model_path(cfg.model.path), rows, order, settings)
            interleaver = Interleaver(plain, args.warmup, args.block, args.blocks)
            _ACTIVE.append(interleaver)
            runner.train()
    ratios = [x[1] / p[1] for x, p in zip(interleaver.xtune, interleaver.baseline)]
    wall_ratios = [x[0] / p[0] for x, p in zip(interleaver.xtune, interleaver.baseline)]
    per_step = {
        side: {
            "cpu_ms": median([b[1] for b in blocks]) / args.block * 1e3,
            "wall_ms": median([b[0] for b in blocks]) / args.block * 1e3,
        }
        for side, blocks in (("xtune", interleaver.xtune), ("plain", interleaver.baseline))
    }
    first_x, first_p = interleaver.first_loss, plain.first_loss
    return {
        "benchmark": "step_overhead",
        "xtune_over_plain": median(ratios),
        "xtune_over_plain_wall": median(wall_ratios),
        "cpu_ratios": [round(r, 4) for r in ratios],
        "wall_ratios": [round(r, 4) for r in wall_ratios],
        "per_step": per_step,
        "first_loss": {"xtune": first_x, "plain": first_p, "abs_diff": abs(first_x - first_p)},
        "blocks": args.blocks,
        "block": args.block,
        "warmup": args.warmup,
        "threads": args.threads,
        "batch_size": settings["batch_size"],
        "config": str(DEMO_CONFIG.relative_to(REPO)),
        "cfg_options": dict(args.cfg_options),
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=30, help="timed blocks per side (default 30)")
    parser.add_argument("--block", type=int, default=10, help="iterations per block (default 10)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed iterations first (default 10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (default 1)")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="demo config overrides",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    out = run(args)
    first = out["first_loss"]
    rows = [
        {"side": "xtune (Runner, hooks, data pipeline)", "CPU ms/step": out["per_step"]["xtune"]["cpu_ms"],
         "wall ms/step": out["per_step"]["xtune"]["wall_ms"], "first loss": first["xtune"]},
        {"side": "plain peft loop", "CPU ms/step": out["per_step"]["plain"]["cpu_ms"],
         "wall ms/step": out["per_step"]["plain"]["wall_ms"], "first loss": first["plain"]},
    ]  # fmt: skip
    human = (
        table(rows, ["side", "CPU ms/step", "wall ms/step", "first loss"])
        + f"\n\nxtune_over_plain, median of {args.blocks} interleaved blocks of {args.block} steps: "
        f"{out['xtune_over_plain']:.3f} (process CPU time), {out['xtune_over_plain_wall']:.3f} (wall clock)"
    )
    emit(out, args.json, human, "step_overhead")
    return 0


if __name__ == "__main__":
    sys.exit(main())
