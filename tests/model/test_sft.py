"""SupervisedFinetune: the loss is HF's causal-LM loss over trained tokens only; checkpoints hold what trains."""

from __future__ import annotations

import pytest
import torch

from xtune.model import SupervisedFinetune


@pytest.fixture(scope="module")
def lora_model(tiny_model_dir):
    return SupervisedFinetune(path="embedded:tiny-qwen2", adapter=dict(type="LoRA", r=4, dropout=0.0))


def _batch(tokenizer):
    ids = tokenizer("Reverse the letters.\nc a b<|im_end|>", add_special_tokens=False)["input_ids"]
    input_ids = torch.tensor([ids, ids])
    labels = input_ids.clone()
    labels[:, : len(ids) // 2] = -100  # the "prompt" half is masked
    labels[1, -3:] = -100
    return input_ids, labels


def test_loss_equals_transformers_loss_on_unmasked_tokens(lora_model, tiny_tokenizer):
    input_ids, labels = _batch(tiny_tokenizer)
    ours = lora_model(input_ids=input_ids, labels=labels)["loss"]
    reference = lora_model.llm(input_ids=input_ids, labels=labels).loss
    assert float(ours) == pytest.approx(float(reference), abs=1e-5)

    # Masking matters: with every label trained the loss is different.
    everything = lora_model(input_ids=input_ids, labels=input_ids.clone())["loss"]
    assert abs(float(everything) - float(ours)) > 1e-3


def test_lora_checkpoint_holds_only_trainable_weights(lora_model):
    state = lora_model.state_dict()
    trainable = {n for n, p in lora_model.named_parameters() if p.requires_grad}
    assert set(state) == trainable
    assert all("lora_" in key for key in state)
    total = sum(p.numel() for p in lora_model.parameters())
    assert sum(t.numel() for t in state.values()) < 0.1 * total

    # Loading it back reports no missing keys for the frozen base.
    result = lora_model.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_full_finetune_checkpoint_holds_every_weight(tiny_model_dir):
    model = SupervisedFinetune(path="embedded:tiny-qwen2", adapter=dict(type="Full"))
    state = model.state_dict()
    assert sum(t.numel() for t in state.values()) == sum(p.numel() for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
