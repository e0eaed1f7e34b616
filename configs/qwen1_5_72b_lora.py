# Qwen1.5-72B-Chat (72.3B params), LoRA: base frozen in 16-bit, LoRA r=64 on every linear layer.
# The 16-bit base alone is 145 GB: ZeRO-3 shards it across many smaller GPUs, e.g. 16x24 GB (xtune plan: 19.3
# GiB each at 2048 tokens) or 4x80 GB (48.6 GiB each): strategy=dict(type="DeepSpeed", stage=3).
# This config sets that strategy: torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_72b_lora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   torchrun --nproc_per_node 8 tools/train.py configs/qwen1_5_72b_lora.py --launcher pytorch \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/lora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-72B-Chat")
strategy = dict(type="DeepSpeed", stage=3)  # no single GPU holds this run; see above
optim_wrapper = dict(optimizer=dict(lr=1e-4))  # the QLoRA scripts' rate from 33B up
