"""Each format (and packing) trains the tiny model through the mmengine Runner with a falling loss."""

from __future__ import annotations

import json

import pytest

from xtune.engine.logs import losses_by_iter
from xtune.testing import make_demo_samples


def rows_in_format(fmt: str, n: int = 400) -> list[dict]:
    """The demo puzzles as rows of ``fmt`` (chat formats get two puzzles per conversation)."""
    rows = make_demo_samples(n, seed=11)
    if fmt == "alpaca":
        return rows
    if fmt == "text":
        return [{"text": f"{r['instruction']}\n{r['input']}\n{r['output']}"} for r in rows]
    pairs = []
    for a, b in zip(rows[::2], rows[1::2]):
        turns = [("user", f"{a['instruction']}\n{a['input']}"), ("assistant", a["output"]),
                 ("user", f"{b['instruction']}\n{b['input']}"), ("assistant", b["output"])]  # fmt: skip
        if fmt == "openai":
            pairs.append({"messages": [{"role": role, "content": text} for role, text in turns]})
        else:
            names = {"user": "human", "assistant": "gpt"}
            pairs.append({"conversations": [{"from": names[role], "value": text} for role, text in turns]})
    return pairs


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["alpaca", "openai", "sharegpt", "text", "alpaca-packed"])
def test_format_trains_the_tiny_model(fmt, repo, tmp_path, train):
    name = fmt.removesuffix("-packed")
    data = tmp_path / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows_in_format(name)))
    options = [
        f"train_dataloader.dataset.path={data}",
        "train_dataloader.dataset.format=auto",  # detected from the columns
        f"train_dataloader.dataset.cache_dir={tmp_path / 'cache'}",
        f"train_dataloader.dataset.pack_to_max_length={fmt.endswith('-packed')}",
        "train_dataloader.dataset.max_length=256",
        # Packed rows hold ~7 samples each: 2 rows per step see about as many samples as 8 padded ones.
        f"train_dataloader.batch_size={2 if fmt.endswith('-packed') else 8}",
        "train_cfg.max_iters=30",
        "default_hooks.logger.interval=1",
        "default_hooks.checkpoint.interval=1000",
    ]
    code, work_dir = train(repo / "configs/demo/tiny_qwen_lora.py", *options)
    assert code == 0
    losses = losses_by_iter(work_dir)
    first = [losses[i] for i in sorted(losses)[:5]]
    last = [losses[i] for i in sorted(losses)[-5:]]
    assert len(losses) == 30
    assert sum(last) < 0.75 * sum(first), (first, last)
