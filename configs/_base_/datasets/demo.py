# The demo instruction data shipped in data/demo (letter and number puzzles, alpaca format).
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="sft_collate"),
    dataset=dict(type="SFTDataset", path="data/demo/train.jsonl", format="alpaca", max_length=256),
)
