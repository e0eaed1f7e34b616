"""EvaluateChatHook, DatasetInfoHook and ThroughputHook (FLOPs per token, MFU, peak memory, ETA)."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

from xtune.engine.flops import FlopsModel, flops_model, peak_tflops
from xtune.engine.hooks.dataset_info import dataset_stats, mark_trained
from xtune.engine.hooks.throughput import sample_lengths
from xtune.engine.logs import read_scalars
from xtune.planner.arch import linear_shapes


def _tiny_model(tiny_model_dir, adapter):
    from transformers import AutoModelForCausalLM

    return adapter.apply(AutoModelForCausalLM.from_pretrained(tiny_model_dir))


def test_flops_per_token_full_is_6n_and_lora_is_4n_plus_adapters(tiny_model_dir):
    from xtune.adapter import Full, LoRA

    arch = json.loads((tiny_model_dir / "config.json").read_text())
    head = arch["vocab_size"] * arch["hidden_size"]
    matmul_weights = sum(count * fi * fo for _, (fi, fo), count in linear_shapes(arch)) + head
    full = flops_model(_tiny_model(tiny_model_dir, Full()))
    assert full.weight_flops_per_token == 6 * matmul_weights

    lora = flops_model(_tiny_model(tiny_model_dir, LoRA(r=16, alpha=32, modules_to_save=["lm_head"])))
    adapters = sum(count * 16 * (fi + fo) for _, (fi, fo), count in linear_shapes(arch))
    # frozen base: 4 per weight; adapters and the trained copy of the head: 6; the frozen head copy idles
    assert lora.weight_flops_per_token == 4 * (matmul_weights - head) + 6 * adapters + 6 * head
    assert (lora.layers, lora.attn_width) == (arch["num_hidden_layers"], arch["hidden_size"])


def test_attention_flops_follow_each_sample_length():
    model = FlopsModel(weight_flops_per_token=100.0, layers=2, attn_width=8)
    assert model.batch_flops([3, 5]) == 100.0 * 8 + 12 * 2 * 8 * (9 + 25)


def test_sample_lengths_from_padding_mask_and_packed_positions():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    batch = {"input_ids": torch.zeros(2, 4, dtype=torch.long), "attention_mask": mask}
    assert sample_lengths(batch) == [3, 4]
    batch["position_ids"] = torch.tensor([[0, 1, 2, 0], [0, 1, 0, 1]])
    assert sample_lengths(batch) == [3, 2, 2]


def test_peak_table_prefers_specific_names():
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops("NVIDIA A10G") == 70.0 and peak_tflops("Some CPU") is None


def test_mark_trained_brackets_the_supervised_span(tiny_tokenizer):
    prompt = tiny_tokenizer("<|im_start|>user\nCount the letters.<|im_end|>\n", add_special_tokens=False)[
        "input_ids"
    ]
    reply = tiny_tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    answer = tiny_tokenizer("3<|im_end|>", add_special_tokens=False)["input_ids"]
    ids = prompt + reply + answer
    labels = [-100] * (len(prompt) + len(reply)) + answer
    marked = mark_trained(tiny_tokenizer, ids, labels)
    assert marked.endswith("<|im_start|>assistant\n\u27e63<|im_end|>\u27e7")
    assert marked.count("\u27e6") == 1


def test_dataset_stats_counts_trained_tokens():
    data = [
        {"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]},
        {"input_ids": [5, 6], "labels": [-100, -100]},
    ]
    info = dataset_stats(data)
    assert info == dict(samples=2, scanned=2, tokens=6, trained_tokens=2, trained_fraction=pytest.approx(1 / 3),
                        mean_length=3.0, max_length=4, untrained_samples=1)  # fmt: skip


@pytest.mark.slow
def test_hooks_log_chat_dataset_and_throughput_during_training(repo, train, tmp_path):
    config = tmp_path / "hooks.py"
    config.write_text(
        textwrap.dedent(f"""
        _base_ = ["{repo}/configs/demo/tiny_qwen_lora.py"]
        chat_prompts = ["Count the letters.\\na b c"]
        custom_hooks = [
            dict(type="DatasetInfoHook"),
            dict(type="ThroughputHook", peak_tflops=0.001),
            dict(type="EvaluateChatHook", every_n_iters=2, max_new_tokens=8),
        ]
        train_cfg = dict(max_iters=4)
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=100))
        """)
    )
    code, work = train(config)
    assert code == 0

    rows = [json.loads(line) for line in (work / "eval_chat.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows] == [0, 2, 4]  # before training, every 2 iterations, not twice at the end
    assert all(r["prompt"] == "Count the letters.\na b c" and r["new_tokens"] <= 8 for r in rows)

    info = json.loads((work / "dataset_info.json").read_text())
    assert info["samples"] == 2000 and 0 < info["trained_fraction"] < 0.5 and info["untrained_samples"] == 0
    log = next(work.glob("*/*.log")).read_text()
    assert "Training set: 2000 samples" in log and "\u27e6" in log

    scalars = {row["iter"]: row for row in read_scalars(work) if "loss" in row}
    assert sorted(scalars) == [1, 2, 3, 4]
    first = scalars[1]  # logged with iteration 1 itself: the hook runs before LoggerHook
    assert first["tokens"] > 0 and first["tflops"] > 0
    assert first["mfu"] == pytest.approx(first["tflops"] / 0.001, rel=1e-6)
    assert all(0.05 < row["peak_mem_gib"] < 64 for row in scalars.values())
    assert scalars[2]["eta_s"] > 0 and scalars[4]["eta_s"] == 0
