# Qwen1.5-32B-Chat (32.5B params), QLoRA: frozen 4-bit NF4 base (bitsandbytes) + LoRA r=64 on every linear.
# Fits one 48 GB or 80 GB GPU (xtune plan: 34.3 GiB at 2048 tokens); on 24 GB GPUs, ZeRO-3 over 2 of them
# (21.3 GiB each; 4-bit storage = compute dtype): strategy=dict(type="DeepSpeed", stage=3).
# Several GPUs: add that strategy here; torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_32b_qlora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_32b_qlora.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/qlora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-32B-Chat")
optim_wrapper = dict(optimizer=dict(lr=1e-4))  # the QLoRA scripts' rate from 33B up
