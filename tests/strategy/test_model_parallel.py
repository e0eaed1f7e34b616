"""ModelParallel's plan: consecutive decoder layers in blocks on successive devices, planned on meta tensors."""

from __future__ import annotations

import re

import pytest

from xtune.strategy.model_parallel import plan_device_map

pytestmark = pytest.mark.filterwarnings("ignore")  # accelerate warns that devices 0..3 are not present

ARCH = dict(model_type="qwen2", hidden_size=256, intermediate_size=704, num_hidden_layers=8,
            num_attention_heads=4, num_key_value_heads=2, vocab_size=1024, tie_word_embeddings=False)  # fmt: skip


def _layer_devices(device_map: dict, n_layers: int = ARCH["num_hidden_layers"]) -> list:
    """Device of each decoder layer (a map may name a whole block, e.g. ``model.layers``, at once)."""

    def device_of(name: str):
        while name not in device_map:
            assert "." in name, f"{name} is not placed"
            name = name.rsplit(".", 1)[0]
        return device_map[name]

    return [device_of(f"model.layers.{i}") for i in range(n_layers)]


@pytest.mark.parametrize("n_devices", [2, 4])
def test_layers_split_in_consecutive_blocks_over_the_devices(n_devices):
    device_map = plan_device_map(ARCH, max_memory={i: 10**9 for i in range(n_devices)}, dtype="float32")
    devices = _layer_devices(device_map)
    assert not any(re.match(r"model\.layers\.\d+\.", name) for name in device_map)  # layers never split
    assert devices == sorted(devices)  # consecutive blocks, in device order
    # accelerate's balancing leaves the last device headroom, so a small model may not reach it
    assert len(set(devices)) >= n_devices - 1 >= 1
    assert device_map["model.embed_tokens"] == 0 and device_map["lm_head"] == devices[-1]


def test_tiny_model_from_its_directory(tiny_model_dir):
    device_map = plan_device_map(str(tiny_model_dir), max_memory={0: 10**9, 1: 10**9})
    assert _layer_devices(device_map, n_layers=4) == [0, 0, 1, 1]


def test_a_device_with_less_memory_gets_fewer_layers():
    roomy = _layer_devices(plan_device_map(ARCH, max_memory={0: 16 * 2**20, 1: 10**9}, dtype="float32"))
    tight = _layer_devices(plan_device_map(ARCH, max_memory={0: 8 * 2**20, 1: 10**9}, dtype="float32"))
    assert 0 < tight.count(0) < roomy.count(0)
    assert tight == sorted(tight) and roomy == sorted(roomy)


def test_runner_strategy_loads_with_the_planned_map_and_leaves_layers_in_place(
    tiny_model_dir, tmp_path, monkeypatch
):
    """The plan reaches ``from_pretrained(device_map=...)``; mmengine's move-to-one-device is skipped.

    CPU-only: the "plan" puts everything on the CPU, which is enough to follow the plumbing.
    """
    from transformers import AutoModelForCausalLM

    import xtune.model  # noqa: F401  (registers SupervisedFinetune)
    import xtune.strategy.model_parallel_runner as runner_module

    seen = {}
    from_pretrained = AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen["device_map"] = kwargs.get("device_map")
        return from_pretrained(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)

    def fake_plan(path, budget, trust_remote_code=False):
        seen.update(path=path, budget=budget)
        return {"": "cpu"}

    monkeypatch.setattr(runner_module, "plan_device_map", fake_plan)
    strategy = runner_module.ModelParallelRunnerStrategy(
        devices=[0, 1], max_memory={"0": "10GiB", "1": "20GiB", "2": "1GiB"}, work_dir=str(tmp_path)
    )
    model = strategy.build_model(dict(type="xtune.SupervisedFinetune", path="embedded:tiny-qwen2"))
    assert seen["budget"] == {0: "10GiB", 1: "20GiB"}  # only the strategy's devices
    assert seen["path"] == str(tiny_model_dir)
    assert seen["device_map"] == {"": "cpu"}
    assert strategy._wrap_model(model) is model
