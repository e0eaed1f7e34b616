"""The QLoRA demo's acceptance: a 4-bit base under every targeted linear, frozen; < 5% trainable; the loss
falls >= 20%; the exported adapter loads in plain peft on a 4-bit base and on the unquantized base. Also the
8-bit and DoRA variants train a few steps with falling loss."""

from __future__ import annotations

import json

import pytest
import torch

from xtune.config import load_config
from xtune.engine.logs import losses_by_iter
from xtune.testing.metrics import reply_loss

DEMO = "configs/demo/tiny_qwen_qlora.py"
DECODER_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def test_demo_model_is_a_frozen_4bit_base_with_few_trainable_params(repo, tiny_model_dir):
    import bitsandbytes as bnb

    from xtune.registry import ADAPTERS, MODELS

    cfg = load_config(repo / DEMO)
    model = MODELS.build(cfg.model)
    targeted = {
        n: m for n, m in model.named_modules() if hasattr(m, "lora_A") and n.endswith(DECODER_LINEARS)
    }
    assert len(targeted) == 4 * len(DECODER_LINEARS)
    for name, module in targeted.items():
        base = module.base_layer
        assert isinstance(base, bnb.nn.Linear4bit), name
        assert base.weight.dtype == torch.uint8 and not base.weight.requires_grad
        assert base.weight.quant_state.quant_type == "nf4"
    # The output head keeps its 16/32-bit weight (bitsandbytes never quantizes it), frozen under its adapter.
    head = model.hf_model().lm_head
    assert not isinstance(head.base_layer, bnb.nn.Linear4bit) and not head.base_layer.weight.requires_grad

    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    n_trainable, n_total = model.llm.get_nb_trainable_parameters()  # counts 4-bit weights at full size
    arch = json.loads((tiny_model_dir / "config.json").read_text())
    assert n_trainable == ADAPTERS.build(cfg.model.adapter).trainable_params(arch) == 39_424
    assert n_trainable / n_total < 0.05, (n_trainable, n_total)


@pytest.mark.slow
def test_demo_trains_and_its_adapter_loads_on_4bit_and_16bit_bases(
    repo, train, tmp_path, tiny_model_dir, tiny_tokenizer
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from xtune.engine.checkpoint import load_state_dict
    from xtune.quant import BnB4bit
    from xtune.quant.bnb import disable_cpu_weight_repacking
    from xtune.registry import MODELS

    code, work_dir = train(repo / DEMO, "chat_prompts=[]", work_dir=tmp_path / "demo")
    assert code == 0
    losses = losses_by_iter(work_dir)
    first = losses[min(losses)]
    last = sum(losses[i] for i in sorted(losses)[-5:]) / 5
    assert last <= 0.8 * first, (first, last)

    export = work_dir / "hf"
    assert (export / "adapter_config.json").is_file() and (export / "adapter_model.safetensors").is_file()
    rows = [json.loads(line) for line in (repo / "data/demo/eval.jsonl").read_text().splitlines()][:32]
    ids = torch.tensor([tiny_tokenizer("Count the letters.\na b c")["input_ids"]])

    # The model as trained: the demo's model rebuilt and its checkpoint loaded.
    trained = MODELS.build(load_config(repo / DEMO).model)
    trained.load_state_dict(load_state_dict(work_dir / "iter_200.pth"))
    trained.eval()
    with torch.no_grad():
        trained_logits = trained(input_ids=ids, mode="tensor")

    quantization = BnB4bit().hf_quantization_config(torch.float32)
    base_4bit = AutoModelForCausalLM.from_pretrained(tiny_model_dir, quantization_config=quantization)
    # bitsandbytes 0.50.2 repacks 4-bit weights for CPU inference in eval mode on AVX512-BF16 CPUs, and that
    # path needs in_features % 64 == 0 (true of every Qwen1.5 layer, not of this tiny model's 352-wide MLP).
    disable_cpu_weight_repacking(base_4bit)
    base_4bit_loss = reply_loss(base_4bit, tiny_tokenizer, rows)
    tuned_4bit = PeftModel.from_pretrained(base_4bit, export)
    with torch.no_grad():
        reloaded_logits = tuned_4bit(input_ids=ids).logits
    torch.testing.assert_close(reloaded_logits, trained_logits, atol=1e-4, rtol=1e-4)
    tuned_4bit_loss = reply_loss(tuned_4bit, tiny_tokenizer, rows)

    base_fp32 = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    base_fp32_loss = reply_loss(base_fp32, tiny_tokenizer, rows)
    tuned_fp32 = PeftModel.from_pretrained(base_fp32, export)
    tuned_fp32_loss = reply_loss(tuned_fp32, tiny_tokenizer, rows)
    print(
        f"held-out reply loss: 4-bit base {base_4bit_loss:.3f} -> {tuned_4bit_loss:.3f}; fp32 base "
        f"{base_fp32_loss:.3f} -> {tuned_fp32_loss:.3f}; train {first:.3f} -> {last:.3f}"
    )
    assert tuned_4bit_loss < 0.6 * base_4bit_loss
    assert (
        tuned_fp32_loss < 0.6 * base_fp32_loss
    )  # the adapter trained on NF4 weights carries to the original


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant, quantizer, adapter",
    [
        ("8bit", dict(type="BnB8bit"), {}),
        ("dora", None, dict(use_dora=True)),
        ("dora_rslora", None, dict(use_dora=True, use_rslora=True)),
    ],
)
def test_8bit_and_dora_variants_train(repo, train, tmp_path, variant, quantizer, adapter):
    config = tmp_path / f"{variant}.py"
    lines = [f"_base_ = [{str(repo / DEMO)!r}]"]
    overrides = {"adapter": adapter}
    if quantizer:
        overrides["quantizer"] = dict(_delete_=True, **quantizer)
    lines.append(f"model = {overrides!r}")
    config.write_text("\n".join(lines) + "\n")
    code, work_dir = train(
        config,
        "train_cfg.max_iters=30",
        "default_hooks.logger.interval=1",
        "chat_prompts=[]",
        work_dir=tmp_path / "w",
    )
    assert code == 0
    losses = [loss for _, loss in sorted(losses_by_iter(work_dir).items())]
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    print(f"{variant}: loss {first:.3f} -> {last:.3f}")
    assert len(losses) == 30 and last < 0.8 * first, (first, last)
