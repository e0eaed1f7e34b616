# QLoRA (Dettmers et al. 2023): the base's linear layers frozen in 4-bit NormalFloat with double-quantized
# scales (~4.127 bits per weight), LoRA adapters in 16/32-bit on every one of them; gradient checkpointing is
# on by default for a quantized base. Hyperparameters follow the paper's reference scripts (artidoro/qlora,
# scripts/finetune_guanaco_*.sh): r=64, alpha=16, dropout 0.05, max grad norm 0.3, lr 2e-4 up to 13B and 1e-4
# from 33B (the larger leaf configs override lr), effective batch 16 (1 row x 16 accumulated steps per GPU).
_base_ = ["../schedules/iter_based.py"]  # AdamW, warm-up then cosine decay; the values below override it

model = dict(
    type="SupervisedFinetune",
    quantizer=dict(type="BnB4bit", quant_type="nf4", double_quant=True, compute_dtype="auto"),
    adapter=dict(type="LoRA", r=64, alpha=16, dropout=0.05, target_modules="all-linear"),
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
