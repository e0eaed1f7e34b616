# Qwen1.5-110B-Chat (111.2B params), QLoRA: frozen 4-bit NF4 base (bitsandbytes) + LoRA r=64 on every linear.
# Too big for one 80 GB GPU (xtune plan: 89.2 GiB at 2048 tokens): ZeRO-3 over 2x80 GB (50.7 GiB each) or 8x24
# GB (20.7 GiB each): strategy=dict(type="DeepSpeed", stage=3).
# This config sets that strategy: torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_110b_qlora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   torchrun --nproc_per_node 8 tools/train.py configs/qwen1_5_110b_qlora.py --launcher pytorch \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/qlora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-110B-Chat")
strategy = dict(type="DeepSpeed", stage=3)  # no single GPU holds this run; see above
optim_wrapper = dict(optimizer=dict(lr=1e-4))  # the QLoRA scripts' rate from 33B up
