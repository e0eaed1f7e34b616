# The QLoRA demo: the LoRA demo (tiny_qwen_lora.py) with its base frozen in 4-bit NF4 (bitsandbytes, works on
# CPU) and rank-4 adapters on every linear layer of the embedded tiny Qwen2 model; about half a minute on CPU:
#   python tools/train.py configs/demo/tiny_qwen_qlora.py
# The adapter lands in work_dirs/tiny_qwen_qlora/hf; it loads with peft.PeftModel.from_pretrained on the base
# loaded in 4-bit (as trained) or in 16/32-bit.
#
# The tiny model's weights are random, and adapters on the decoder alone cannot steer a random output head
# (measured: loss 5.4 -> 4.4 in 600 iterations), so the head, which bitsandbytes keeps unquantized as in every
# QLoRA recipe, gets a rank-4 adapter too (2,048 parameters instead of 49,152 to train it in full): 4.5% of the
# parameters train, and the loss falls 5.3 -> 2.2 in 200 iterations. On a pretrained model keep the default
# target_modules="all-linear" (every linear layer except the head).
_base_ = ["./tiny_qwen_lora.py"]

model = dict(
    quantizer=dict(type="BnB4bit", quant_type="nf4", double_quant=True),
    adapter=dict(
        _delete_=True,  # replace the LoRA demo's adapter (r=16 + a fully trained head) instead of merging
        type="LoRA",
        r=4,
        alpha=16,
        dropout=0.0,
        target_modules=[
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
            "lm_head",
        ],
    ),
)
train_cfg = dict(max_iters=200)
