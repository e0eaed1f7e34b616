"""LoRA and QLoRA throughput and peak memory: xtune against a plain Hugging Face Trainer + peft run.

For each model size and method, one process builds a Qwen1.5-shaped model with random weights
(``from_config``, no download; shapes from xtune's planner table), saves it to a temporary directory,
and trains it for ``--warmup`` + ``--steps`` steps twice on the same token rows, batch, sequence length
and dtype:

- **xtune**: ``build_runner`` with the shipped recipe of ``configs/_base_/methods/<method>.py``
  (quantizer, LoRA adapter, loss, gradient checkpointing; AdamW, gradient clipping), precision
  ``auto`` (bf16 autocast on GPU), attention ``auto``; the mmengine train loop with xtune's hooks.
- **hf**: ``AutoModelForCausalLM.from_pretrained`` (+ ``BitsAndBytesConfig`` and peft's
  ``prepare_model_for_kbit_training`` for QLoRA), ``peft.get_peft_model`` with the same LoRA settings,
  ``transformers.Trainer`` with the same optimizer (torch AdamW), learning rate, clipping, gradient
  checkpointing and batch; the attention implementation transformers picks by default.

Reported per run: tokens/s over the timed steps (every token of the rows is a real token; prompt
tokens are masked from the loss as in SFT), peak GPU memory (``torch.cuda.max_memory_allocated`` from
before the model loads to the end), MFU (training FLOPs as counted by ``xtune.engine.flops``: 4 FLOPs
per frozen and 6 per trained weight and token, plus ``12 * layers * d_attn * seq`` per token for
attention, no recomputation counted, over the GPU's dense bf16 peak), the first step's loss (both sides
must agree: LoRA starts as the base model), and the planner's memory estimate for the same run.

    python benchmarks/gpu_finetune.py [--sizes 1.8b,7b] [--methods lora,qlora] [--steps 10] [--seq-len 4096]
    python benchmarks/gpu_finetune.py --tiny    # CPU, a tiny shape: what the test suite runs

With ``$OUT`` set, the JSON is also written to ``$OUT/gpu_finetune.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
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

SIZES = {"0.5b": "Qwen1.5-0.5B", "1.8b": "Qwen1.5-1.8B", "4b": "Qwen1.5-4B", "7b": "Qwen1.5-7B"}
# ../shared/README.md §5, used only when xtune's planner table is not importable
FALLBACK_SHAPES = {
    "Qwen1.5-0.5B": (1024, 24, 16, 16, 2816, True),
    "Qwen1.5-1.8B": (2048, 24, 16, 16, 5504, False),
    "Qwen1.5-4B": (2560, 40, 20, 20, 6912, False),
    "Qwen1.5-7B": (4096, 32, 32, 32, 11008, False),
}
TINY = dict(
    model_type="qwen2", hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
    intermediate_size=176, vocab_size=1024, tie_word_embeddings=False, max_position_embeddings=4096,
)  # fmt: skip
METHOD_FALLBACK = {
    "lora": dict(quantizer=dict(type="NoQuant"), gradient_checkpointing=True),
    "qlora": dict(quantizer=dict(type="BnB4bit", quant_type="nf4", double_quant=True, compute_dtype="auto")),
}


# -- the model and the data ------------------------------------------------------------------------------
def architecture(size: str) -> tuple[str, dict]:
    """``(name, config.json fields)`` of a Qwen1.5 size, from xtune's planner table when it has it."""
    name = SIZES[size]
    try:
        from xtune.planner.table import BUILTIN

        return name, dict(BUILTIN[name])
    except (ImportError, KeyError):
        hidden, layers, heads, kv, inter, tied = FALLBACK_SHAPES[name]
        return name, dict(
            model_type="qwen2", hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
            num_key_value_heads=kv, intermediate_size=inter, vocab_size=151936, tie_word_embeddings=tied,
            max_position_embeddings=32768,
        )  # fmt: skip


def save_random_model(fields: dict, directory: str, dtype: Any, device: str) -> int:
    """Random weights of this shape (transformers' own init) saved as a local checkpoint; returns params."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**{k: v for k, v in fields.items() if k not in ("model_type", "architectures")})
    config.architectures = ["Qwen2ForCausalLM"]
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(directory, safe_serialization=True)
    del model
    _free()
    return params


class TokenRows:
    """``rows`` random sequences of ``seq_len`` tokens; the first 10-50% of each is a masked prompt."""

    def __init__(self, rows: int, seq_len: int, vocab_size: int, seed: int = 0) -> None:
        import torch

        gen = torch.Generator().manual_seed(seed)
        self.input_ids = torch.randint(3, vocab_size, (rows, seq_len), generator=gen)
        prompt = (torch.rand(rows, generator=gen) * 0.4 + 0.1) * seq_len
        self.labels = self.input_ids.clone()
        self.labels[torch.arange(seq_len).unsqueeze(0) < prompt.long().unsqueeze(1)] = -100

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}


def _register_components() -> tuple[str, str]:
    """Register the benchmark's dataset and step clock in xtune's registries.

    Once per loaded copy of this module, replacing an earlier copy's classes (``force``): the clock
    must append to this copy's ``_CLOCK``.
    """
    global _REGISTERED
    from mmengine.dataset import BaseDataset  # noqa: F401  (registers mmengine's DATASETS)
    from mmengine.hooks import Hook
    from torch.utils.data import Dataset

    from xtune.registry import DATASETS, HOOKS

    if not _REGISTERED:

        class BenchmarkTokenRows(TokenRows, Dataset):
            # already tokens: the tokenizer the engine fills in is not used
            def __init__(
                self, rows: int, seq_len: int, vocab_size: int, tokenizer: str | None = None
            ) -> None:
                super().__init__(rows, seq_len, vocab_size)

        class BenchmarkStepClock(Hook):
            priority = "LOWEST"

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
                loss = outputs.get("loss") if outputs else None
                _CLOCK.append((_sync_time(), float(loss.detach()) if loss is not None else math.nan))

        DATASETS.register_module(name="BenchmarkTokenRows", module=BenchmarkTokenRows, force=True)
        HOOKS.register_module(name="BenchmarkStepClock", module=BenchmarkStepClock, force=True)
        _REGISTERED = True
    return "BenchmarkTokenRows", "BenchmarkStepClock"


_REGISTERED = False
_CLOCK: list[tuple[float, float]] = []


def _sync_time() -> float:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def _free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _memory_start() -> int:
    import torch

    _free()
    if not torch.cuda.is_available():
        return 0
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.memory_allocated()


def _memory_peak(start: int) -> tuple[int | None, int | None]:
    """Peak bytes allocated by tensors since ``start``, and the allocator's peak reserved bytes."""
    import torch

    if not torch.cuda.is_available():
        return None, None
    return torch.cuda.max_memory_allocated() - start, torch.cuda.max_memory_reserved()


# -- the recipe ------------------------------------------------------------------------------------------
def method_recipe(method: str) -> dict:
    """``model`` and optimizer settings of xtune's shipped recipe ``configs/_base_/methods/<method>.py``."""
    from xtune.config import load_config

    path = REPO / "configs" / "_base_" / "methods" / f"{method}.py"
    if path.exists():
        cfg = load_config(str(path))
        model = {k: v for k, v in dict(cfg.model).items() if k not in ("type", "path")}
        optim = dict(cfg.optim_wrapper)
        return dict(
            model=model,
            lr=float(optim["optimizer"].get("lr", 2e-4)),
            max_norm=float((optim.get("clip_grad") or {}).get("max_norm", 1.0)),
        )
    model = dict(METHOD_FALLBACK[method])
    model["adapter"] = dict(type="LoRA", r=64, alpha=16, dropout=0.05, target_modules="all-linear")
    model["loss"] = dict(type="ChunkedCrossEntropy")
    return dict(model=model, lr=2e-4, max_norm=0.3)


def gradient_checkpointing(recipe: dict) -> bool:
    gc_setting = recipe["model"].get("gradient_checkpointing")
    quantized = (recipe["model"].get("quantizer") or {}).get("type", "NoQuant") != "NoQuant"
    return quantized if gc_setting is None else bool(gc_setting)


def xtune_config(model_dir: str, recipe: dict, data: dict, iters: int, work_dir: str) -> Any:
    from mmengine.config import Config

    dataset, clock = _register_components()
    return Config(
        dict(
            model=dict(type="SupervisedFinetune", path=model_dir, **recipe["model"]),
            train_dataloader=dict(
                batch_size=data["batch_size"],
                num_workers=0,
                sampler=dict(type="DefaultSampler", shuffle=False),
                collate_fn=dict(type="sft_collate"),
                dataset=dict(
                    type=dataset, rows=data["rows"], seq_len=data["seq_len"], vocab_size=data["vocab"]
                ),
            ),
            train_cfg=dict(type="IterBasedTrainLoop", max_iters=iters),
            optim_wrapper=dict(
                optimizer=dict(type="AdamW", lr=recipe["lr"], weight_decay=0.0),
                clip_grad=dict(max_norm=recipe["max_norm"]),
            ),
            param_scheduler=[],
            precision="auto",
            default_hooks=dict(
                timer=dict(type="IterTimerHook"),
                logger=dict(type="LoggerHook", interval=max(1, iters // 2), log_metric_by_epoch=False),
                param_scheduler=dict(type="ParamSchedulerHook"),
                checkpoint=None,
                sampler_seed=dict(type="DistSamplerSeedHook"),
            ),
            custom_hooks=[dict(type="ThroughputHook"), dict(type=clock)],
            log_processor=dict(by_epoch=False, window_size=1),
            env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend="nccl")),
            randomness=dict(seed=0),
            log_level="WARNING",
            work_dir=work_dir,
            experiment_name=f"bench_{os.getpid()}_{time.time_ns()}",
        )
    )


# -- the two sides ---------------------------------------------------------------------------------------
def run_xtune(model_dir: str, recipe: dict, data: dict, warmup: int, steps: int) -> dict:
    from xtune.engine.runner import build_runner

    start_mem = _memory_start()
    with tempfile.TemporaryDirectory() as work_dir, contextlib.redirect_stdout(sys.stderr):
        cfg = xtune_config(model_dir, recipe, data, warmup + steps, work_dir)
        _CLOCK.clear()
        begin = _sync_time()
        runner = build_runner(cfg)
        runner.train()
        flops = _step_flops(runner.model, data)
        attn = runner.model.hf_model().config._attn_implementation
        stamps = list(_CLOCK)
        del runner
    peak = _memory_peak(start_mem)
    _free()
    return _result(stamps, begin, warmup, steps, data, *peak, flops, attn)


def run_hf(model_dir: str, recipe: dict, data: dict, warmup: int, steps: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from torch.utils.data import SequentialSampler
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    gpu = torch.cuda.is_available()
    dtype = torch.bfloat16 if gpu and torch.cuda.is_bf16_supported() else torch.float32
    model_cfg = recipe["model"]
    quant = model_cfg.get("quantizer") or {}
    use_gc = gradient_checkpointing(recipe)
    start_mem = _memory_start()
    begin = _sync_time()
    kwargs: dict[str, Any] = dict(dtype=dtype)
    if quant.get("type") == "BnB4bit":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant.get("quant_type", "nf4"),
            bnb_4bit_use_double_quant=quant.get("double_quant", True),
            bnb_4bit_compute_dtype=dtype,
        )
        if gpu:
            kwargs["device_map"] = {"": torch.cuda.current_device()}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    model.config.use_cache = False
    if "quantization_config" in kwargs:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=use_gc, gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    elif use_gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    adapter = model_cfg.get("adapter") or {}
    model = get_peft_model(
        model,
        LoraConfig(
            r=adapter.get("r", 8), lora_alpha=adapter.get("alpha", 16), lora_dropout=adapter.get("dropout", 0.05),
            target_modules=adapter.get("target_modules", "all-linear"), task_type="CAUSAL_LM",
        ),
    )  # fmt: skip
    stamps: list[tuple[float, float]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            stamps.append((_sync_time(), math.nan))

    class InOrder(Trainer):  # the same row order as xtune's sequential sampler
        def _get_train_sampler(self, *args, **kw):
            return SequentialSampler(self.train_dataset)

        def compute_loss(self, model, inputs, *args, **kw):
            loss = super().compute_loss(model, inputs, *args, **kw)
            if not first_loss:
                first_loss.append(float((loss[0] if isinstance(loss, tuple) else loss).detach()))
            return loss

    first_loss: list[float] = []
    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(
            output_dir=out_dir, per_device_train_batch_size=data["batch_size"], max_steps=warmup + steps,
            learning_rate=recipe["lr"], weight_decay=0.0, max_grad_norm=recipe["max_norm"], optim="adamw_torch",
            lr_scheduler_type="constant", bf16=dtype == torch.bfloat16, logging_steps=10**6,
            save_strategy="no", report_to=[], dataloader_num_workers=0, remove_unused_columns=False,
            disable_tqdm=True, seed=0, use_cpu=not gpu,
        )  # fmt: skip
        trainer = InOrder(
            model=model,
            args=args,
            train_dataset=TokenRows(data["rows"], data["seq_len"], data["vocab"]),
            data_collator=_stack,
            callbacks=[Clock()],
        )
        with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its summary dict to stdout
            trainer.train()
        flops = _step_flops(model, data)
        attn = model.get_base_model().config._attn_implementation
        del trainer, model
    peak = _memory_peak(start_mem)
    _free()
    stamps[0] = (stamps[0][0], first_loss[0] if first_loss else math.nan)
    return _result(stamps, begin, warmup, steps, data, *peak, flops, attn)


def _stack(rows: list[dict]) -> dict:
    import torch

    input_ids = torch.stack([r["input_ids"] for r in rows])
    return {
        "input_ids": input_ids,
        "labels": torch.stack([r["labels"] for r in rows]),
        "attention_mask": torch.ones_like(input_ids),
    }


def _step_flops(model: Any, data: dict) -> float:
    """Training FLOPs of one step (xtune.engine.flops's count, the formula in the module docstring)."""
    lengths = [data["seq_len"]] * data["batch_size"]
    try:
        from xtune.engine.flops import flops_model

        return flops_model(model).batch_flops(lengths)
    except ImportError:  # pragma: no cover - the formula by hand
        from torch import nn

        weights = sum(
            (6 if m.weight.requires_grad else 4) * m.in_features * m.out_features
            for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and "original_module" not in n
        )
        config = model.config
        return weights * sum(lengths) + 12 * config.num_hidden_layers * config.hidden_size * sum(
            n * n for n in lengths
        )


def _result(stamps, begin, warmup, steps, data, peak, reserved, flops, attn) -> dict:
    times = [stamps[i][0] - stamps[i - 1][0] for i in range(warmup, warmup + steps)] if warmup else []
    if not warmup:  # the first step's time includes nothing before it; use the steps after it
        times = [stamps[i][0] - stamps[i - 1][0] for i in range(1, len(stamps))]
    elapsed = sum(times)
    tokens = data["batch_size"] * data["seq_len"] * len(times)
    return {
        "tokens_per_s": tokens / elapsed,
        "step_s": median(times),
        "peak_bytes": peak,
        "peak_reserved_bytes": reserved,
        "tflops_per_s": flops * len(times) / elapsed / 1e12,
        "first_loss": stamps[0][1],
        "total_s": stamps[-1][0] - begin,
        "attn_implementation": attn,
    }


def planner_estimate(model_dir: str, recipe: dict, data: dict, capacity: int) -> dict:
    """The planner's per-GPU estimate for this run (None parts when the planner is unavailable)."""
    try:
        from mmengine.config import Config

        from xtune.planner.plan import scenario_from_config
        from xtune.planner.units import GpuSpec

        cfg = Config(
            dict(
                model=dict(type="SupervisedFinetune", path=model_dir, **recipe["model"]),
                train_dataloader=dict(
                    batch_size=data["batch_size"], dataset=dict(max_length=data["seq_len"])
                ),
                optim_wrapper=dict(optimizer=dict(type="AdamW", lr=recipe["lr"])),
                precision="auto",
            )
        )
        scenario = scenario_from_config(cfg, gpus=GpuSpec(1, capacity), seq_len=data["seq_len"])
        estimate = scenario.estimate()
        return {"total_bytes": int(estimate.total), "parts": {k: int(v) for k, v in estimate.per_gpu.items()}}
    except Exception as exc:  # the planner is another room's; report rather than fail the benchmark
        return {"total_bytes": None, "error": f"{type(exc).__name__}: {exc}"}


# -- driver ----------------------------------------------------------------------------------------------
def run_size(
    label: str, fields: dict, methods: list[str], args: argparse.Namespace, peak: float | None
) -> list:
    """Build one random checkpoint of this shape, then run every method on it."""
    import torch

    gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as model_dir:
        dtype = torch.bfloat16 if gpu and torch.cuda.is_bf16_supported() else torch.float32
        built = time.perf_counter()
        params = save_random_model(fields, model_dir, dtype, "cuda" if gpu else "cpu")
        build_s = time.perf_counter() - built
        cases = []
        for method in methods:
            cases.append({**run_case(label, fields, model_dir, method, args, peak), "params": params,
                          "build_s": build_s})  # fmt: skip
            _checkpoint_out(cases)
        return cases


_DONE: list[dict] = []


def _checkpoint_out(cases: list[dict]) -> None:
    """Write the cases finished so far to ``$OUT/gpu_finetune_partial.json`` (a lease can end mid-run)."""
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "gpu_finetune_partial.json").write_text(json.dumps(_DONE + cases, default=str))


def run_case(
    label: str, fields: dict, model_dir: str, method: str, args: argparse.Namespace, peak_tflops: float | None
) -> dict:
    import torch

    gpu = torch.cuda.is_available()
    recipe = method_recipe(method)
    data = dict(
        rows=(args.warmup + args.steps) * args.batch_size,
        seq_len=args.seq_len,
        vocab=fields["vocab_size"],
        batch_size=args.batch_size,
    )
    case: dict[str, Any] = {"model": label, "method": method, "seq_len": args.seq_len,
                            "batch_size": args.batch_size, "gradient_checkpointing": gradient_checkpointing(recipe)}  # fmt: skip
    capacity = torch.cuda.get_device_properties(0).total_memory if gpu else 80 * 2**30
    case["planner"] = planner_estimate(model_dir, recipe, data, capacity)
    for side in args.sides:
        runner = run_xtune if side == "xtune" else run_hf
        try:
            result = runner(model_dir, recipe, data, args.warmup, args.steps)
        except Exception as exc:  # one failed run (an OOM, a library mismatch) must not lose the others
            import traceback

            traceback.print_exc()
            _free()
            case[side] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            continue
        result["mfu"] = result["tflops_per_s"] / peak_tflops if peak_tflops else None
        case[side] = result
    if "tokens_per_s" in case.get("xtune", {}) and "tokens_per_s" in case.get("hf", {}):
        x, h = case["xtune"], case["hf"]
        case["speedup"] = x["tokens_per_s"] / h["tokens_per_s"]
        case["memory_ratio"] = (
            x["peak_bytes"] / h["peak_bytes"] if x["peak_bytes"] and h["peak_bytes"] else None
        )
        case["first_loss_abs_diff"] = abs(x["first_loss"] - h["first_loss"])
    estimate = case["planner"].get("total_bytes")
    if estimate and case.get("xtune", {}).get("peak_bytes"):
        # the planner adds a fixed runtime overhead (CUDA context, fragmentation) that tensor
        # allocations do not include: compare like with like
        overhead = case["planner"].get("parts", {}).get("overhead", 0)
        case["planner_over_measured"] = (estimate - overhead) / case["xtune"]["peak_bytes"]
    return case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny shape on CPU (for the test suite)")
    parser.add_argument(
        "--sizes", default="1.8b,7b", help=f"comma list of {', '.join(SIZES)} (default 1.8b,7b)"
    )
    parser.add_argument("--methods", default="lora,qlora", help="comma list of lora, qlora (default both)")
    parser.add_argument("--sides", default="xtune,hf", help="comma list of xtune, hf (default both)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; 2 with --tiny)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default 3; 1 with --tiny)"
    )
    parser.add_argument(
        "--seq-len", type=int, default=None, help="tokens per row (default 4096; 64 with --tiny)"
    )
    parser.add_argument("--batch-size", type=int, default=1, help="rows per step (default 1)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's dense bf16 peak")
    parser.add_argument(
        "--tmp-dir", default=None, help="where the random checkpoints go (default: system temp)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    args.steps = args.steps or (2 if args.tiny else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 3)
    args.seq_len = args.seq_len or (64 if args.tiny else 4096)
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    with contextlib.redirect_stdout(sys.stderr):
        import torch

    peak = args.peak_tflops
    if peak is None and torch.cuda.is_available():
        from xtune.engine.flops import peak_tflops

        peak = peak_tflops(torch.cuda.get_device_name(0))
    shapes = (
        [("tiny-qwen1.5", dict(TINY))]
        if args.tiny
        else [architecture(s.strip()) for s in args.sizes.split(",")]
    )
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # libraries' prints and loggers: stdout stays for the result
        cases = []
        for label, fields in shapes:
            cases += run_size(label, fields, methods, args, peak)
            _DONE[:] = cases
    out = {
        "benchmark": "gpu_finetune",
        "cases": cases,
        "peak_tflops": peak,
        "steps": args.steps,
        "warmup": args.warmup,
        "wall_s": time.perf_counter() - started,
        "machine": machine(),
    }
    rows = []
    for case in cases:
        for side in args.sides:
            r = case[side]
            if "error" in r:
                rows.append(
                    {"model": case["model"], "method": case["method"], "side": side, "tokens/s": "error"}
                )
                continue
            rows.append({
                "model": case["model"], "method": case["method"], "side": side, "tokens/s": r["tokens_per_s"],
                "peak GiB": r["peak_bytes"] / 2**30 if r["peak_bytes"] else None,
                "MFU": r["mfu"], "first loss": r["first_loss"], "attention": r["attn_implementation"],
                "planner GiB": (case["planner"].get("total_bytes") or 0) / 2**30 if side == "xtune" else None,
            })  # fmt: skip
    human = table(
        rows,
        ["model", "method", "side", "tokens/s", "peak GiB", "MFU", "first loss", "attention", "planner GiB"],
    )
    human += (
        f"\n\nseq {args.seq_len} x batch {args.batch_size}, {args.steps} timed steps after {args.warmup}; "
    )
    human += f"total {out['wall_s']:.0f}s"
    emit(out, args.json, human, "gpu_finetune")
    return 0


if __name__ == "__main__":
    sys.exit(main())
