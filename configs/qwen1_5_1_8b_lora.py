# Qwen1.5-1.8B-Chat (1.84B params), LoRA: base frozen in 16-bit, LoRA r=64 on every linear layer.
# Fits one 12 GB GPU (xtune plan: 7.6 GiB at 2048 tokens).
# Several GPUs (faster, same memory each): strategy=dict(type="DDP"), launched with torchrun.
# Check your own GPUs first: xtune plan configs/qwen1_5_1_8b_lora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_1_8b_lora.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/lora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-1.8B-Chat")
