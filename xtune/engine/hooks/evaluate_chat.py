"""Sample the model's replies to fixed prompts while it trains: see the fine-tune take effect (or not)."""

from __future__ import annotations

import json
import os

from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from xtune.registry import HOOKS


@HOOKS.register_module()
class EvaluateChatHook(Hook):
    """Generate replies to ``prompts`` before training, every ``every_n_iters`` and at the end.

    Replies are logged and appended to ``WORK_DIR/<out_file>`` as JSON lines
    (``{"iter", "prompt", "response", "new_tokens", "stopped"}``; ``stopped`` is false when the reply hit
    ``max_new_tokens`` without the end-of-turn token). Prompts are rendered with the tokenizer's own chat
    template and decoding is greedy, so successive rows show only what training changed.

    Args:
        prompts: user messages; ``None`` reads the config's top-level ``chat_prompts`` (no prompts: idle).
        every_n_iters: generate every this many iterations (0: only before and after training).
        max_new_tokens: longest reply.
        system: an optional system message.
        before_train: also generate before the first step (the untrained baseline).
        out_file: JSON-lines file in the work dir.
    """

    priority = "LOW"

    def __init__(
        self,
        prompts: list[str] | None = None,
        every_n_iters: int = 500,
        max_new_tokens: int = 128,
        system: str | None = None,
        before_train: bool = True,
        out_file: str = "eval_chat.jsonl",
    ) -> None:
        self.prompts = list(prompts) if prompts is not None else None
        self.every_n_iters = every_n_iters
        self.max_new_tokens = max_new_tokens
        self.system = system
        self.run_before_train = before_train
        self.out_file = out_file
        self._tokenizer = None
        self._last_iter: int | None = None

    def before_train(self, runner) -> None:
        if self.prompts is None:
            self.prompts = list(runner.cfg.get("chat_prompts") or [])
        if not self.prompts:
            runner.logger.info("EvaluateChatHook: no prompts (set `chat_prompts` in the config); idle")
            return
        if self.run_before_train:
            self.evaluate(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.prompts and self.every_n_iters > 0 and self.every_n_train_iters(runner, self.every_n_iters):
            self.evaluate(runner, step=runner.iter + 1)

    def after_train(self, runner) -> None:
        from xtune.engine.checkpoint import stop_signal

        if self.prompts and stop_signal(runner) is None and self._last_iter != runner.iter:
            self.evaluate(runner)

    def evaluate(self, runner, step: int | None = None) -> list[dict]:
        """Generate one reply per prompt now; returns the rows written."""
        from xtune.engine.generate import build_messages, generate_reply

        step = runner.iter if step is None else step
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        llm = model.llm
        tokenizer = self._get_tokenizer(runner, model)
        # ZeRO-3 gathers each layer from all ranks: every rank must run every forward step together.
        synced = get_world_size() > 1 and any(hasattr(p, "ds_id") for p in llm.parameters())
        rows = []
        for prompt in self.prompts or []:
            reply = generate_reply(
                llm,
                tokenizer,
                build_messages(prompt, self.system),
                max_new_tokens=self.max_new_tokens,
                synced_gpus=synced,
            )
            rows.append(
                dict(
                    iter=step,
                    prompt=prompt,
                    response=reply.text,
                    new_tokens=reply.new_tokens,
                    stopped=reply.stopped,
                )  # fmt: skip
            )
            runner.logger.info(f"[chat @ iter {step}] {prompt!r} -> {reply.text!r}")
        if is_main_process() and rows:
            with open(os.path.join(runner.work_dir, self.out_file), "a") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._last_iter = step
        return rows

    def _get_tokenizer(self, runner, model):
        if self._tokenizer is None:
            dataset = getattr(getattr(runner, "train_dataloader", None), "dataset", None)
            self._tokenizer = getattr(dataset, "tokenizer", None)
            if self._tokenizer is None or isinstance(self._tokenizer, str):
                from xtune.dataset.sft import load_tokenizer

                self._tokenizer = load_tokenizer(runner.cfg.get("tokenizer") or model.path)
        return self._tokenizer
