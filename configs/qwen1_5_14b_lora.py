# Qwen1.5-14B-Chat (14.17B params), LoRA: base frozen in 16-bit, LoRA r=64 on every linear layer.
# Fits one 48 GB or 80 GB GPU (xtune plan: 35.3 GiB at 2048 tokens); on 24 GB GPUs, ZeRO-3 over 4 of them
# (16-bit base sharded): strategy=dict(type="DeepSpeed", stage=3). One 24 GB GPU: QLoRA.
# Several GPUs: add that strategy here; torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_14b_lora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_14b_lora.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/lora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-14B-Chat")
