# Qwen1.5-0.5B-Chat (0.46B params), full fine-tuning: every weight trains (AdamW).
# Fits one 16 GB GPU (xtune plan: 10.2 GiB at 2048 tokens; 16 bytes per parameter of weights, gradients and
# AdamW states).
# Several GPUs (faster, same memory each): strategy=dict(type="DDP"), launched with torchrun.
# Check your own GPUs first: xtune plan configs/qwen1_5_0_5b_full.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_0_5b_full.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/full.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-0.5B-Chat")
