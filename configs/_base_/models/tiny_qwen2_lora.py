# The embedded ~0.8M-parameter Qwen2-architecture model (built locally on first use) with LoRA.
# Its weights are random, so besides the low-rank adapters on every linear layer the output head
# trains in full (`modules_to_save`): a random head cannot be steered by rank-16 updates alone.
model = dict(
    type="SupervisedFinetune",
    path="embedded:tiny-qwen2",
    adapter=dict(type="LoRA", r=16, alpha=32, dropout=0.0, modules_to_save=["lm_head"]),
)
