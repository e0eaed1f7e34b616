# Qwen1.5-14B-Chat (14.17B params), QLoRA: frozen 4-bit NF4 base (bitsandbytes) + LoRA r=64 on every linear.
# Fits one 24 GB GPU (xtune plan: 20.1 GiB at 2048 tokens), or 2x24 GB with ZeRO-2 for headroom (17.3 GiB
# each; the 4-bit base stays whole on each GPU): strategy=dict(type="DeepSpeed", stage=2).
# Several GPUs: add that strategy here; torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch
# Check your own GPUs first: xtune plan configs/qwen1_5_14b_qlora.py --gpus 2x24GB
# Data: an alpaca-format jsonl at train_dataloader.dataset.path (configs/_base_/datasets/alpaca_jsonl.py):
#   python tools/train.py configs/qwen1_5_14b_qlora.py \
#       --cfg-options train_dataloader.dataset.path=/data/my_sft.jsonl
_base_ = [
    "./_base_/methods/qlora.py",  # quantizer, adapter, loss, optimizer and schedule
    "./_base_/datasets/alpaca_jsonl.py",
    "./_base_/default_runtime.py",
]

model = dict(path="Qwen/Qwen1.5-14B-Chat")
