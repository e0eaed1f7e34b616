# AdamW with linear warm-up then cosine decay, counted in iterations.
max_iters = 1000
lr = 2e-4

optim_wrapper = dict(
    optimizer=dict(type="AdamW", lr=lr, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0),
    accumulative_counts=1,
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=False, begin=0, end=30),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters)
