# AdamW with linear warm-up then cosine decay, counted in iterations.
# `end=None` means "until train_cfg.max_iters", so overriding max_iters alone keeps the schedule consistent.
max_iters = 1000
warmup_iters = 30
lr = 2e-4

optim_wrapper = dict(
    optimizer=dict(type="AdamW", lr=lr, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0),
    accumulative_counts=1,
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=False, begin=0, end=warmup_iters),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=warmup_iters, end=None),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters)
