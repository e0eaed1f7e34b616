# Qwen1.5-1.8B-Chat (1.84B params), full fine-tuning: every weight trains (AdamW).
# Fits one 48 GB GPU (xtune plan: 31.8 GiB at 2048 tokens), or ZeRO-2 over 4x24 GB (16.2 GiB each):
# strategy=dict(type="DeepSpeed", stage=2).
# Several GPUs: add that strategy here; torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_1_8b_full.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_1_8b_full.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/full.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-1.8B-Chat")
