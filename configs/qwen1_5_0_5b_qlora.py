# Qwen1.5-0.5B-Chat (0.46B params), QLoRA: frozen 4-bit NF4 base (bitsandbytes) + LoRA r=64 on every linear.
# Fits one 8 GB GPU (xtune plan: 4.2 GiB at 2048 tokens); at this size plain LoRA costs about the same (4.3
# GiB) and avoids 4-bit rounding: qwen1_5_0_5b_lora.py.
# Several GPUs (faster, same memory each): strategy=dict(type="DDP"), launched with torchrun.
# Check your own GPUs first: xtune plan configs/qwen1_5_0_5b_qlora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_0_5b_qlora.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/qlora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-0.5B-Chat")
