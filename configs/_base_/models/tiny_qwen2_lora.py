# The embedded ~0.8M-parameter Qwen2-architecture model (built locally on first use) with LoRA.
model = dict(
    type="SupervisedFinetune",
    path="embedded:tiny-qwen2",
    adapter=dict(type="LoRA", r=16, alpha=32, dropout=0.0),
)
