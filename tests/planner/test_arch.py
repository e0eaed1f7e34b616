"""Parameter counts of the built-in architectures against their published totals."""

from __future__ import annotations

import pytest

from xtune.planner.arch import count_params, largest_module_params, leaf_modules, quantizable_params
from xtune.planner.table import BUILTIN, PUBLISHED_PARAMS


@pytest.mark.parametrize(
    ("name", "published"),
    [("Qwen1.5-7B", 7.72e9), ("Qwen1.5-14B", 14.17e9), ("Qwen1.5-72B", 72.3e9)],
)
def test_issue_reference_counts_within_1_percent(name, published):
    assert count_params(BUILTIN[name]) == pytest.approx(published, rel=0.01)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_matches_its_published_total(name):
    assert count_params(BUILTIN[name]) == pytest.approx(PUBLISHED_PARAMS[name], rel=0.01)


def test_exact_counts_match_the_hub_safetensors_totals():
    # The hub's model pages list these exact totals (safetensors metadata).
    assert count_params(BUILTIN["Qwen1.5-0.5B"]) == 463_987_712
    assert count_params(BUILTIN["Qwen1.5-1.8B"]) == 1_836_828_672
    assert count_params(BUILTIN["Qwen1.5-7B"]) == 7_721_324_544


def test_tied_embeddings_have_no_separate_head():
    tied = dict(BUILTIN["Qwen1.5-0.5B"])
    untied = dict(tied, tie_word_embeddings=False)
    assert count_params(untied) - count_params(tied) == tied["vocab_size"] * tied["hidden_size"]
    assert "lm_head" not in {name for name, _, _ in leaf_modules(tied)}


def test_gqa_shrinks_k_and_v():
    arch = BUILTIN["Qwen1.5-32B"]  # 40 heads, 8 kv heads of 128
    shapes = {name: numel for name, numel, _ in leaf_modules(arch)}
    assert shapes["k_proj"] == 5120 * 1024 + 1024  # weight + Qwen's k bias
    assert shapes["q_proj"] == 5120 * 5120 + 5120


def test_quantizable_and_largest_module():
    arch = BUILTIN["Qwen1.5-72B"]
    # everything but embeddings, head, norms and q/k/v biases is a quantizable linear weight
    rest = count_params(arch) - quantizable_params(arch)
    assert rest == 2 * 152064 * 8192 + (2 * 80 + 1) * 8192 + 80 * 3 * 8192
    assert largest_module_params(arch) == 152064 * 8192  # the embedding (and the head)


def test_counts_match_a_built_transformers_model(tiny_model_dir):
    """The arithmetic against the real thing: the embedded tiny Qwen2's own parameters."""
    import json

    import torch
    from transformers import AutoModelForCausalLM

    arch = json.loads((tiny_model_dir / "config.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    assert count_params(arch) == sum(p.numel() for p in model.parameters())
    biggest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    assert largest_module_params(arch) == biggest
