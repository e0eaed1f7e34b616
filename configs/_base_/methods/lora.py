# LoRA (Hu et al. 2021) on a frozen 16-bit base: adapters on every linear layer, the recipe of
# configs/_base_/methods/qlora.py without the 4-bit base, so 2 bytes per base weight instead of ~0.52.
# Gradient checkpointing on: without it a 14B model stores ~14 GB of activations per 2048-token row
# (34 bytes x tokens x hidden per layer in 16-bit, Korthikanti et al. 2022, x 40 layers).
_base_ = ["../schedules/iter_based.py"]  # AdamW, warm-up then cosine decay; the values below override it

model = dict(
    type="SupervisedFinetune",
    quantizer=dict(type="NoQuant"),
    adapter=dict(type="LoRA", r=64, alpha=16, dropout=0.05, target_modules="all-linear"),
    gradient_checkpointing=True,
    # The same loss as CrossEntropy, with the output head run over 1024 trained tokens at a time:
    # whole-sequence fp32 logits of a 152k vocabulary (Qwen) take 1.2 GB per 2048 tokens, plus as much
    # again for their gradient.
    loss=dict(type="ChunkedCrossEntropy", chunk_size=1024),
)
optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=0.0),
    clip_grad=dict(max_norm=0.3),
    accumulative_counts=16,
)
