# The QLoRA demo: a frozen 4-bit NF4 base with rank-4 LoRA adapters on every linear layer of the embedded tiny
# Qwen2 model, trained on data/demo on CPU in about half a minute, with no download:
#   python tools/train.py configs/demo/tiny_qwen_qlora.py
# The adapter lands in work_dirs/tiny_qwen_qlora/hf; it loads with peft.PeftModel.from_pretrained on the base
# loaded in 4-bit (as trained) or in 16/32-bit.
_base_ = [
    "../_base_/models/tiny_qwen2_qlora.py",
    "../_base_/datasets/demo.py",
    "../_base_/schedules/iter_based.py",
    "../_base_/default_runtime.py",
]

optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=False, begin=0, end=20),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=20, end=None),
]
train_cfg = dict(max_iters=200)
default_hooks = dict(checkpoint=dict(interval=200))
