"""Packing proof: a sample's loss inside a packed row equals its loss alone (no attention across samples)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xtune.dataset import sft_collate
from xtune.dataset.template import encode_batch, resolve_chat_template

CONVERSATIONS = [
    [{"role": "user", "content": "Reverse the letters.\na b c d"}, {"role": "assistant", "content": "d c b a"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Add the numbers.\n12 + 30"},
     {"role": "assistant", "content": "42"}, {"role": "user", "content": "Count the letters.\na b"},
     {"role": "assistant", "content": "2"}],
    [{"role": "user", "content": "Sort the letters.\nd a c"}, {"role": "assistant", "content": "a c d"}],
    [{"role": "user", "content": "Count the letters.\nf e c"}, {"role": "assistant", "content": "3"}],
]  # fmt: skip


@pytest.fixture(scope="module")
def samples(tiny_tokenizer):
    template = resolve_chat_template(tiny_tokenizer, None)
    encoded = encode_batch(tiny_tokenizer, template, [{"messages": m} for m in CONVERSATIONS])
    return [{"input_ids": np.array(ids), "labels": np.array(labels)} for ids, labels in encoded]


def packed_row(parts: list[dict]) -> dict:
    return {
        "input_ids": np.concatenate([p["input_ids"] for p in parts]),
        "labels": np.concatenate([p["labels"] for p in parts]),
        "position_ids": np.concatenate([np.arange(len(p["input_ids"])) for p in parts]),
    }


def only(batch: dict, row: int, start: int, stop: int) -> dict:
    """``batch`` with labels kept only on ``[start, stop)`` of ``row``."""
    labels = torch.full_like(batch["labels"], -100)
    labels[row, start:stop] = batch["labels"][row, start:stop]
    return {**batch, "labels": labels}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_sample_loss_in_packed_row_equals_its_loss_alone(tiny_model_dir, samples, attn):
    from xtune.model.sft import SupervisedFinetune

    torch.manual_seed(0)
    model = SupervisedFinetune(
        path="embedded:tiny-qwen2", adapter=dict(type="Full"), attn_implementation=attn
    )
    model.eval()
    # Two packed rows of different widths, so the shorter one also carries padding at its end.
    rows = [samples[:3], samples[3:]]
    batch = sft_collate([packed_row(r) for r in rows])
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 2
    unmasked = {k: v for k, v in batch.items() if k != "position_ids"}
    gaps = []
    with torch.no_grad():
        for row, parts in enumerate(rows):
            start = 0
            for part in parts:
                stop = start + len(part["input_ids"])
                alone = model(**sft_collate([part]), mode="loss")["loss"]
                packed = model(**only(batch, row, start, stop), mode="loss")["loss"]
                assert torch.allclose(packed, alone, atol=1e-4, rtol=0), (row, start, packed, alone)
                # Without per-sample positions (plain causal attention over the row) later samples differ.
                crossed = model(**only(unmasked, row, start, stop), mode="loss")["loss"]
                gaps.append(float((crossed - alone).abs()))
                start = stop
    assert max(gaps) > 1e-2, "the control (no position_ids) should see the previous samples"


def test_collate_packed_padding_gets_its_own_positions():
    rows = [packed_row([{"input_ids": np.arange(3), "labels": np.arange(3)}] * 2),
            {"input_ids": np.arange(2), "labels": np.arange(2), "position_ids": np.arange(2)}]  # fmt: skip
    batch = sft_collate(rows, pad_token_id=7, pad_to_multiple_of=4)
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2, 0, 1], [0, 1, 0, 1, 2, 3, 4, 5]]
    assert batch["input_ids"][1].tolist() == [0, 1, 7, 7, 7, 7, 7, 7]
    assert batch["labels"][1].tolist() == [0, 1] + [-100] * 6


def test_collate_padded_rows_get_an_attention_mask():
    batch = sft_collate(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [5], "labels": [-100]}]
    )
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [-100, -100, -100]]
    assert "position_ids" not in batch
