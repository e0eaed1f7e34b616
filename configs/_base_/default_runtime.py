# Runtime pieces every xtune config shares: hooks, logging, seeds, precision.
default_scope = "xtune"
precision = "auto"  # bf16 autocast on GPUs that have it, fp16 on older ones, fp32 on CPU

default_hooks = dict(
    timer=dict(type="IterTimerHook"),
    logger=dict(type="LoggerHook", interval=10, log_metric_by_epoch=False),
    param_scheduler=dict(type="ParamSchedulerHook"),
    # atomic saves, keep-last-N after the new one is complete, checkpoint + clean exit on SIGTERM/SIGINT
    checkpoint=dict(
        type="SafeCheckpointHook", by_epoch=False, interval=500, max_keep_ckpts=2, save_last=True
    ),
    sampler_seed=dict(type="DistSamplerSeedHook"),
)
custom_hooks = [
    dict(type="DatasetInfoHook"),
    dict(type="ThroughputHook"),
    dict(type="RNGStateHook"),
    dict(type="ModelStatesHook"),  # WORK_DIR/model_states_rank{R}.json: what each rank holds
    dict(type="HFExportHook"),
    dict(type="EvaluateChatHook"),  # replies to `chat_prompts` (if the config sets them) during training
]

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork"), dist_cfg=dict(backend="nccl"))
log_processor = dict(by_epoch=False, window_size=1)
log_level = "INFO"
# scalars.json + TensorBoard (tensorboard --logdir WORK_DIR); add dict(type="WandbVisBackend") for wandb
visualizer = dict(
    type="Visualizer", vis_backends=[dict(type="LocalVisBackend"), dict(type="TensorboardVisBackend")]
)
randomness = dict(seed=42, deterministic=False)
load_from = None
resume = False
