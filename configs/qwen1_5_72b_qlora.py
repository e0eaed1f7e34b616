# Qwen1.5-72B-Chat (72.3B params), QLoRA: frozen 4-bit NF4 base (bitsandbytes) + LoRA r=64 on every linear.
# Fits one 80 GB GPU (xtune plan: 63.7 GiB at 2048 tokens); on smaller GPUs, ZeRO-3 over 2x48 GB (37.0 GiB
# each) or 8x24 GB (16.5 GiB each): strategy=dict(type="DeepSpeed", stage=3).
# Several GPUs: add that strategy here; torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_72b_qlora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_72b_qlora.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/qlora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-72B-Chat")
optim_wrapper = dict(optimizer=dict(lr=1e-4))  # the QLoRA scripts' rate from 33B up
