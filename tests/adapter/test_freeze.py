"""Freeze: only the named modules train; patterns match whole name components; quantized weights refused."""

from __future__ import annotations

import pytest
import torch

from xtune.adapter.params import name_matches
from xtune.errors import ConfigError


@pytest.mark.parametrize(
    "name, pattern, hit",
    [
        ("model.layers.3.mlp.up_proj.weight", "layers.3", True),
        ("model.layers.30.mlp.up_proj.weight", "layers.3", False),
        ("model.norm.weight", "norm", True),
        ("model.layers.0.input_layernorm.weight", "norm", False),
        ("lm_head.weight", "lm_head", True),
        ("model.layers.12.self_attn.q_proj.bias", "model.layers.1[0-3].*", True),
        ("model.layers.14.self_attn.q_proj.bias", "model.layers.1[0-3].*", False),
    ],
)
def test_name_patterns(name, pattern, hit):
    assert name_matches(name, pattern) is hit


def test_only_selected_weights_train_and_change():
    from xtune.model import SupervisedFinetune

    model = SupervisedFinetune(
        path="embedded:tiny-qwen2", adapter=dict(type="Freeze", trainable=["lm_head", "layers.3"])
    )
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("llm.lm_head.") or ".layers.3." in n for n in trainable)
    assert any(".layers.3.mlp.down_proj" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    ids = torch.randint(3, 380, (2, 12))
    model(input_ids=ids, labels=ids)["loss"].backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == trainable
    assert set(model.state_dict()) == trainable  # checkpoints hold only what trains


def test_quantized_weights_cannot_be_selected():
    from xtune.model import SupervisedFinetune

    with pytest.raises(ConfigError, match="selects quantized weights"):
        SupervisedFinetune(
            path="embedded:tiny-qwen2",
            quantizer=dict(type="BnB4bit"),
            adapter=dict(type="Freeze", trainable=["mlp"]),
        )
    model = SupervisedFinetune(
        path="embedded:tiny-qwen2",
        quantizer=dict(type="BnB4bit"),
        adapter=dict(type="Freeze", trainable=["lm_head"]),
    )
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"llm.lm_head.weight"}


def test_pattern_matching_nothing_is_an_error():
    from xtune.model import SupervisedFinetune

    with pytest.raises(ConfigError, match="`layers.99` matches no parameter"):
        SupervisedFinetune(path="embedded:tiny-qwen2", adapter=dict(type="Freeze", trainable=["layers.99"]))
