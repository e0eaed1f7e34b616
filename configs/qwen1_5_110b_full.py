# Qwen1.5-110B-Chat (111.2B params), full fine-tuning: every weight trains (AdamW).
# 1.78 TB of model states: ZeRO-3 over 64x48 GB (xtune plan: 42.6 GiB each at 2048 tokens) or 64x80 GB:
# strategy=dict(type="DeepSpeed", stage=3).
# This config sets that strategy: torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_110b_full.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   torchrun --nproc_per_node 8 tools/train.py configs/qwen1_5_110b_full.py --launcher pytorch \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/full.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-110B-Chat")
strategy = dict(type="DeepSpeed", stage=3)  # no single GPU holds this run; see above
