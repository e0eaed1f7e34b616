# The demo: LoRA on the embedded tiny Qwen2 model, trained on data/demo (letter and number puzzles)
# in well under a minute on 2 CPU cores, with no download:
#   python tools/train.py configs/demo/tiny_qwen_lora.py
# The adapter lands in work_dirs/tiny_qwen_lora/hf (load it with peft.PeftModel.from_pretrained).
_base_ = [
    "../_base_/models/tiny_qwen2_lora.py",
    "../_base_/datasets/demo.py",
    "../_base_/schedules/iter_based.py",
    "../_base_/default_runtime.py",
]

optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.05, by_epoch=False, begin=0, end=20),
    dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False, begin=20, end=None),
]
train_cfg = dict(max_iters=400)
default_hooks = dict(checkpoint=dict(interval=200))
# EvaluateChatHook answers these before training, every 500 iterations and at the end (work_dir/eval_chat.jsonl)
chat_prompts = ["Reverse the letters.\nc a b", "Add the numbers.\n12 + 7"]
