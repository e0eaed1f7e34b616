"""ChunkedCrossEntropy equals the naive loss (value and gradients) and bounds the loss's peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from xtune.model.loss import ChunkedCrossEntropy, CrossEntropy
from xtune.registry import LOSSES


def _batch(batch: int, seq: int, hidden: int, vocab: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    states = torch.randn(batch, seq, hidden, generator=gen)
    labels = torch.randint(0, vocab, (batch, seq), generator=gen)
    labels[0, : seq // 3] = -100  # a masked prompt
    labels[-1, seq - seq // 4 :] = -100  # right padding
    return states, labels


def _loss_and_grads(loss_fn, head: nn.Module, states: torch.Tensor, labels: torch.Tensor):
    head.zero_grad(set_to_none=True)
    states = states.clone().requires_grad_(True)
    loss = loss_fn(states, head, labels)
    (loss * 3.0).backward()  # a non-unit upstream gradient, as with loss scaling
    grads = {n: p.grad.clone() for n, p in head.named_parameters() if p.grad is not None}
    return loss.detach(), states.grad, grads


@pytest.mark.parametrize(
    "bias,train_head,chunk",
    [(False, False, 7), (False, True, 64), (True, True, 33), (True, False, 4096)],
)
def test_chunked_equals_naive(bias, train_head, chunk):
    torch.manual_seed(0)
    head = nn.Linear(24, 500, bias=bias)
    head.requires_grad_(train_head)
    states, labels = _batch(3, 40, 24, 500)
    chunked = ChunkedCrossEntropy(chunk_size=chunk)
    loss, d_states, d_head = _loss_and_grads(chunked, head, states, labels)
    ref_loss, ref_states, ref_head = _loss_and_grads(CrossEntropy(), head, states, labels)
    assert chunked.last_path == "fused"
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    torch.testing.assert_close(d_states, ref_states, rtol=1e-5, atol=1e-7)
    expected = ({"weight", "bias"} if bias else {"weight"}) if train_head else set()
    assert d_head.keys() == ref_head.keys() == expected
    for name in ref_head:
        torch.testing.assert_close(d_head[name], ref_head[name], rtol=1e-5, atol=1e-7)


def test_chunked_equals_naive_at_qwen_vocab():
    """152k-entry vocabulary: the fp32 sums stay within 1e-5 of the naive loss."""
    torch.manual_seed(0)
    head = nn.Linear(16, 151936, bias=False)
    states, labels = _batch(1, 512, 16, 151936)
    loss, d_states, d_head = _loss_and_grads(ChunkedCrossEntropy(chunk_size=128), head, states, labels)
    ref_loss, ref_states, ref_head = _loss_and_grads(CrossEntropy(), head, states, labels)
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    torch.testing.assert_close(d_states, ref_states, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(d_head["weight"], ref_head["weight"], rtol=1e-4, atol=1e-8)


class _TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.lm_head = nn.Linear(8, 50, bias=False)


@pytest.mark.parametrize("peft_kwargs,path", [
    (dict(target_modules=["lm_head"]), "checkpointed"),  # a LoRA-wrapped head: its own forward
    (dict(target_modules=["body"], modules_to_save=["lm_head"]), "fused"),  # looked through to its Linear
])  # fmt: skip
def test_peft_wrapped_heads(peft_kwargs, path):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(_TinyLM(), LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, **peft_kwargs))
    head = model.base_model.model.lm_head
    states, labels = _batch(2, 30, 8, 50)
    chunked = ChunkedCrossEntropy(chunk_size=9)
    loss, d_states, d_head = _loss_and_grads(chunked, head, states, labels)
    ref_loss, ref_states, ref_head = _loss_and_grads(CrossEntropy(), head, states, labels)
    assert chunked.last_path == path
    assert abs(loss.item() - ref_loss.item()) < 1e-5
    torch.testing.assert_close(d_states, ref_states, rtol=1e-5, atol=1e-7)
    assert d_head and d_head.keys() == ref_head.keys()  # the adapter / saved copy gets gradients
    for name in ref_head:
        torch.testing.assert_close(d_head[name], ref_head[name], rtol=1e-5, atol=1e-7)


def test_bf16_autocast_matches_naive_autocast():
    torch.manual_seed(0)
    head = nn.Linear(32, 300)
    states, labels = _batch(2, 64, 32, 300)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, d_states, d_head = _loss_and_grads(ChunkedCrossEntropy(chunk_size=40), head, states, labels)
        ref_loss, ref_states, ref_head = _loss_and_grads(CrossEntropy(), head, states, labels)
    assert loss.dtype == torch.float32
    assert abs(loss.item() - ref_loss.item()) < 1e-2
    # bf16 matmuls round differently per chunk: compare whole tensors, relative to their norm
    for ours, ref in (
        (d_states, ref_states),
        (d_head["weight"], ref_head["weight"]),
        (d_head["bias"], ref_head["bias"]),
    ):
        assert (ours - ref).norm() / ref.norm() < 1e-2


def test_no_trained_token_gives_zero_loss_and_zero_grads():
    head = nn.Linear(8, 20)
    states = torch.randn(2, 5, 8, requires_grad=True)
    loss = ChunkedCrossEntropy()(states, head, torch.full((2, 5), -100))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(states.grad) == 0


def test_no_grad_forward_computes_the_same_value():
    torch.manual_seed(0)
    head = nn.Linear(12, 90)
    states, labels = _batch(2, 20, 12, 90)
    with torch.no_grad():
        loss = ChunkedCrossEntropy(chunk_size=8)(states, head, labels)
    assert not loss.requires_grad
    assert abs(loss.item() - CrossEntropy()(states, head, labels).item()) < 1e-5


def test_registered_and_validated():
    from xtune.errors import ConfigError

    assert isinstance(LOSSES.build(dict(type="ChunkedCrossEntropy", chunk_size=256)), ChunkedCrossEntropy)
    with pytest.raises(ConfigError, match="chunk_size"):
        ChunkedCrossEntropy(chunk_size=0)
    with pytest.raises(ConfigError, match="liger"):  # asked for, but no GPU here
        ChunkedCrossEntropy(use_liger=True)(
            torch.randn(1, 3, 4), nn.Linear(4, 5), torch.zeros(1, 3, dtype=torch.long)
        )


# Measured in a fresh interpreter from the kernel's count of resident pages: /proc/self/status VmHWM
# (the peak RSS of this process image; ru_maxrss would carry over the forking pytest process's peak),
# reset right before the measured work by writing 5 to /proc/self/clear_refs. Tensors this large come
# from mmap and go back to the kernel on free, so RSS follows torch's live CPU bytes; the calibration
# allocation proves the measurement sees a tensor of known size.
MEMORY_PROBE = textwrap.dedent(
    """
    import json
    import torch
    from torch import nn
    from xtune.model.loss import ChunkedCrossEntropy

    def status(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

    def start():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS to the current RSS
        return status("VmRSS")

    torch.set_num_threads(1)
    tokens, vocab, hidden = 4096, 151936, 32
    torch.manual_seed(0)
    head = nn.Linear(hidden, vocab, bias=False)
    states = torch.randn(1, tokens, hidden, requires_grad=True)
    labels = torch.randint(0, vocab, (1, tokens))
    base = start()
    probe = torch.ones(tokens // 4, vocab)  # one quarter of the full fp32 logits
    probe_bytes = status("VmHWM") - base
    del probe
    base = start()
    loss = ChunkedCrossEntropy(chunk_size=1024)(states, head, labels)
    loss.backward()
    print(json.dumps({"probe_bytes": probe_bytes, "loss_peak_bytes": status("VmHWM") - base,
                      "loss": loss.item(), "grad_norm": states.grad.norm().item()}))
    """
)


@pytest.mark.slow
def test_chunked_loss_peak_memory_well_below_fp32_logits(repo):
    logits_bytes = 4096 * 151936 * 4  # 2.49 GB of fp32 logits for 4k tokens x 152k vocabulary
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, env=env, cwd=repo, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # the method sees a quarter of the logits as a quarter of the logits
    assert 0.95 * logits_bytes / 4 <= result["probe_bytes"] <= 1.1 * logits_bytes / 4, result
    # fwd + bwd peak: one 1024-token chunk of fp32 logits (a quarter) plus gradients, never the whole
    assert result["loss_peak_bytes"] < 0.3 * logits_bytes, result
    assert result["loss"] > 0 and result["grad_norm"] > 0
