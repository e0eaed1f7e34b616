# Qwen1.5-7B-Chat (7.72B params), LoRA: base frozen in 16-bit, LoRA r=64 on every linear layer.
# Fits one 24 GB GPU (xtune plan: 21.0 GiB at 2048 tokens); ZeRO-3 over 2x24 GB for headroom (15.2 GiB each):
# strategy=dict(type="DeepSpeed", stage=3). One 16 GB GPU: QLoRA.
# Several GPUs: add that strategy here; torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_7b_lora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_7b_lora.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/lora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-7B-Chat")
