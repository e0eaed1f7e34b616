# Full fine-tuning: every weight trains. AdamW with mixed precision keeps 16 bytes of model states per
# parameter (16-bit weight and gradient, fp32 master weight and two moments; ZeRO paper, Rajbhandari et al.
# 2020), so beyond ~1B parameters DeepSpeed ZeRO shards them across GPUs. A small learning rate (1e-5) keeps
# the chat model's behaviour; gradient checkpointing on, as for LoRA.
_base_ = ["../schedules/iter_based.py"]  # AdamW, warm-up then cosine decay; the values below override it

model = dict(
    type="SupervisedFinetune",
    quantizer=dict(type="NoQuant"),
    adapter=dict(type="Full"),
    gradient_checkpointing=True,
    # The same loss as CrossEntropy, with the output head run over 1024 trained tokens at a time:
    # whole-sequence fp32 logits of a 152k vocabulary (Qwen) take 1.2 GB per 2048 tokens, plus as much
    # again for their gradient.
    loss=dict(type="ChunkedCrossEntropy", chunk_size=1024),
)
optim_wrapper = dict(
    optimizer=dict(lr=1e-5, weight_decay=0.0),
    clip_grad=dict(max_norm=1.0),
    accumulative_counts=16,
)
