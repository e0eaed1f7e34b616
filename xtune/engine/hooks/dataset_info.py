"""Show what the model will train on, once, before the first step."""

from __future__ import annotations

import json
import os
from typing import Any

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from xtune.registry import HOOKS

IGNORE_INDEX = -100
TRAIN_OPEN, TRAIN_CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧ around the tokens the loss is computed on


@HOOKS.register_module()
class DatasetInfoHook(Hook):
    """Log sample and token counts of the training set and one decoded sample with the trained span marked.

    The sample is printed as the model sees it (chat template included), with ``⟦...⟧`` around the
    tokens that carry a loss: a wrong mask (training on prompts, or on nothing) is visible at a glance.
    Counts are also written to ``WORK_DIR/dataset_info.json``.

    Args:
        max_samples: samples scanned for the token counts (the sample count is always exact).
        sample_index: which sample to print.
    """

    priority = "LOW"

    def __init__(self, max_samples: int = 10000, sample_index: int = 0) -> None:
        self.max_samples = max_samples
        self.sample_index = sample_index

    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        info = dataset_stats(dataset, self.max_samples)
        runner.logger.info(
            "Training set: {samples} samples; over the first {scanned}: {tokens} tokens, {trained_tokens} "
            "trained ({trained_fraction:.1%}), length mean {mean_length:.1f} / max {max_length}, "
            "{untrained_samples} samples with nothing to train on".format(**info)
        )
        if info["untrained_samples"]:
            runner.logger.warning(
                f"{info['untrained_samples']} samples have no trained token (all labels -100): truncated "
                "replies or a template mismatch; they add compute but no signal"
            )
        tokenizer = _tokenizer(dataset, runner)
        if tokenizer is not None and len(dataset):
            index = min(self.sample_index, len(dataset) - 1)
            runner.logger.info(
                f"Sample {index} ({TRAIN_OPEN}...{TRAIN_CLOSE}: trained tokens):\n"
                + mark_trained(tokenizer, *_ids_labels(dataset[index]))
            )
        if is_main_process():
            with open(os.path.join(runner.work_dir, "dataset_info.json"), "w") as f:
                json.dump(info, f, indent=2)


def dataset_stats(dataset: Any, max_samples: int = 10000) -> dict:
    """Counts over the first ``max_samples`` samples: tokens, trained tokens, lengths."""
    scanned = min(len(dataset), max_samples)
    tokens = trained = longest = untrained = 0
    for index in range(scanned):
        input_ids, labels = _ids_labels(dataset[index])
        n_trained = sum(1 for label in labels if label != IGNORE_INDEX)
        tokens += len(input_ids)
        trained += n_trained
        longest = max(longest, len(input_ids))
        untrained += n_trained == 0
    return dict(
        samples=len(dataset),
        scanned=scanned,
        tokens=tokens,
        trained_tokens=trained,
        trained_fraction=trained / tokens if tokens else 0.0,
        mean_length=tokens / scanned if scanned else 0.0,
        max_length=longest,
        untrained_samples=untrained,
    )


def mark_trained(tokenizer: Any, input_ids: list[int], labels: list[int]) -> str:
    """Decode ``input_ids`` with ``⟦ ⟧`` around each run of trained (label != -100) tokens."""
    pieces: list[str] = []
    run: list[int] = []
    trained_run = False
    for token, label in [*zip(input_ids, labels), (None, None)]:
        trained = label is not None and label != IGNORE_INDEX
        if token is None or (run and trained != trained_run):
            text = tokenizer.decode(run, skip_special_tokens=False)
            pieces.append(f"{TRAIN_OPEN}{text}{TRAIN_CLOSE}" if trained_run else text)
            run = []
        if token is not None:
            run.append(token)
            trained_run = trained
    return "".join(pieces)


def _ids_labels(sample: dict) -> tuple[list[int], list[int]]:
    input_ids = sample["input_ids"]
    labels = sample.get("labels", input_ids)
    as_list = lambda x: x.tolist() if hasattr(x, "tolist") else list(x)  # noqa: E731
    return as_list(input_ids), as_list(labels)


def _tokenizer(dataset: Any, runner) -> Any:
    tokenizer = getattr(dataset, "tokenizer", None)
    if tokenizer is not None and not isinstance(tokenizer, str):
        return tokenizer
    from xtune.dataset.sft import load_tokenizer

    model_cfg = runner.cfg.get("model") or {}
    path = runner.cfg.get("tokenizer") or model_cfg.get("path")
    return load_tokenizer(path) if path else None
