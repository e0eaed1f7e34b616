# Your instruction data in alpaca format: one JSON object per line with "instruction", "input" and "output".
# Point `path` at it, in a copy of the config (tools/copy_cfg.py) or on the command line:
#   --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
# Samples are rendered with the model's own chat template; only the replies are trained. Rows of up to 2048
# tokens, one row per GPU per step (the method bases accumulate gradients over several steps).
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="sft_collate"),
    dataset=dict(type="SFTDataset", path="data/alpaca/train.jsonl", format="alpaca", max_length=2048),
)
