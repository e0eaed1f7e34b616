# The demo instruction data shipped in data/demo (letter and number puzzles, alpaca format).
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="sft_collate"),
    # Every key is documented in docs/datasets.md; `xtune check-data CONFIG` shows what they produce.
    dataset=dict(
        type="SFTDataset",
        path="data/demo/train.jsonl",  # or sources=[dict(path=..., format=..., weight=...), ...]
        format="alpaca",  # alpaca | openai (messages) | sharegpt | text | auto
        chat_template=None,  # None: the tokenizer's own; or a CHAT_TEMPLATES name ('chatml', 'qwen')
        max_length=512,  # tokens per sample, and per row when packing (demo samples are ~34 tokens)
        truncation="truncate",  # longer samples: 'truncate' or 'drop' (both counted)
        pack_to_max_length=False,  # True: fill rows of max_length, no attention across samples
        on_bad_row="error",  # 'skip': skip unusable rows, counted and reported
        num_proc=1,  # tokenization processes
    ),
)
