"""A user's own components, registered in a module outside the package, are found via custom_imports."""

from __future__ import annotations

import json
import sys
import textwrap

from xtune.engine.logs import losses_by_iter

USER_MODULE = '''
import json

from mmengine.hooks import Hook

from xtune.dataset import SFTDataset
from xtune.model import SupervisedFinetune
from xtune.registry import DATASETS, HOOKS, MODELS


@MODELS.register_module(force=True)
class ScaledLossFinetune(SupervisedFinetune):
    """The stock model with its loss multiplied by a constant."""

    def __init__(self, loss_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.loss_scale = loss_scale

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        if isinstance(out, dict):
            out = {"loss": out["loss"] * self.loss_scale}
        return out


@DATASETS.register_module(force=True)
class FirstRowsDataset(SFTDataset):
    """Only the first `limit` samples."""

    def __init__(self, limit: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit

    def __len__(self):
        return min(self.limit, super().__len__())


@HOOKS.register_module(force=True)
class LossRecorderHook(Hook):
    def __init__(self, out_file: str):
        self.out_file = out_file

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        with open(self.out_file, "a") as f:
            f.write(json.dumps({"iter": runner.iter, "loss": float(outputs["loss"])}) + "\\n")
'''


def test_custom_components_from_outside_the_package_train(tmp_path, repo, train, monkeypatch):
    (tmp_path / "my_components.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    record = tmp_path / "losses.jsonl"
    config = tmp_path / "custom_cfg.py"
    config.write_text(
        textwrap.dedent(
            f"""
            _base_ = ['{repo}/configs/demo/tiny_qwen_lora.py']
            custom_imports = dict(imports=['my_components'], allow_failed_imports=False)
            model = dict(type='ScaledLossFinetune', loss_scale=2.0)
            train_dataloader = dict(dataset=dict(type='FirstRowsDataset', limit=64, path='{repo}/data/demo/train.jsonl'))
            custom_hooks = [dict(type='LossRecorderHook', out_file='{record}')]
            train_cfg = dict(max_iters=40)
            default_hooks = dict(logger=dict(interval=1))
            """
        )
    )
    code, work_dir = train(config)
    assert code == 0
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(rows) == 40
    logged = losses_by_iter(work_dir)
    # The hook saw the scaled loss the custom model returned (logged loss is the same value).
    assert abs(rows[0]["loss"] - logged[1]) < 1e-4
    assert rows[0]["loss"] > 2 * 4.0  # scaled: ln(384) ≈ 5.95 at the start, times 2
    assert sum(r["loss"] for r in rows[-5:]) < 0.8 * sum(r["loss"] for r in rows[:5])
    sys.modules.pop("my_components", None)
