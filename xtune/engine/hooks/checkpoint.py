"""``SafeCheckpointHook``: mmengine's CheckpointHook with atomic saves, safe retention and save-on-signal."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from mmengine.dist import barrier, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook

from xtune.engine import checkpoint as ckpt_io
from xtune.registry import HOOKS

#: Hooks whose signal handlers are installed now (restored by :func:`restore_signal_handlers`).
_INSTALLED: list[SafeCheckpointHook] = []


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """Save checkpoints so that a crash, a kill or a preemption never leaves an unusable work dir.

    On top of mmengine's ``CheckpointHook`` (same arguments, local files only):

    - each checkpoint is written under a hidden temporary name (``.iter_N.pth.tmp``) in its final
      directory, flushed, and renamed atomically; ``last_checkpoint`` is updated only after the rename;
    - ``max_keep_ckpts`` deletes old checkpoints only *after* the new one is complete (mmengine deletes
      first, so a crash during the save could leave none);
    - with ``save_on_signal``, SIGTERM (preemption, ``scancel``, ``kill``) and SIGINT (Ctrl-C) make the run
      save a checkpoint at the end of the current iteration and stop cleanly; the process then exits with
      status ``128 + signal``. A second signal exits at once. Under several processes the ranks agree
      (all-reduce) so all stop at the same iteration;
    - temporary files left by a killed save are removed when training starts.
    """

    def __init__(
        self,
        interval: int = -1,
        by_epoch: bool = True,
        save_optimizer: bool = True,
        save_param_scheduler: bool = True,
        out_dir: str | None = None,
        max_keep_ckpts: int = -1,
        save_last: bool = True,
        save_best: str | list[str] | None = None,
        rule: str | list[str] | None = None,
        greater_keys: list[str] | None = None,
        less_keys: list[str] | None = None,
        filename_tmpl: str | None = None,
        published_keys: str | list[str] | None = None,
        save_begin: int = 0,
        save_on_signal: bool = True,
    ) -> None:
        super().__init__(
            interval=interval,
            by_epoch=by_epoch,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler,
            out_dir=out_dir,
            max_keep_ckpts=max_keep_ckpts,
            save_last=save_last,
            save_best=save_best,
            rule=rule,
            greater_keys=greater_keys,
            less_keys=less_keys,
            filename_tmpl=filename_tmpl,
            published_keys=published_keys,
            save_begin=save_begin,
        )
        self.save_on_signal = save_on_signal
        self._pending_signal: int | None = None
        self._previous_handlers: dict[int, object] = {}
        self._last_saved_step: int | None = None

    @property
    def pending_signal(self) -> int | None:
        """The signal received and not yet acted on (None when training should go on)."""
        return self._pending_signal

    # -- lifecycle ----------------------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.max_keep_ckpts > 0:
            self.keep_ckpt_ids = list(self.keep_ckpt_ids)  # a plain list: we prune after saving
        if is_main_process():
            for stale in ckpt_io.remove_stale_temps(self.out_dir):
                runner.logger.warning(f"Removed the partial checkpoint {stale} left by an interrupted save")
        if self.save_on_signal:
            self._install_handlers(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if not self.save_on_signal:
            return
        signum = self._agreed_signal()
        if not signum:
            return
        name = signal.Signals(signum).name
        if self.by_epoch:
            # mid-epoch: named by iteration; mmengine's epoch loop restarts this epoch on resume
            runner.logger.info(f"{name} received: saving a checkpoint at {runner.iter + 1} iterations")
            self._write(runner, f"iter_{runner.iter + 1}.pth", dict(epoch=runner.epoch, iter=runner.iter + 1))
        elif self._last_saved_step != runner.iter + 1:
            runner.logger.info(f"{name} received: saving a checkpoint at {runner.iter + 1} iterations")
            self._save_checkpoint(runner)
        runner.logger.info(
            f"{name} received: training stopped after iteration {runner.iter + 1}; continue with `--resume`"
        )
        runner.message_hub.update_info(ckpt_io.STOP_SIGNAL_KEY, signum)
        runner.train_loop.stop_training = True

    def after_train(self, runner) -> None:
        self._restore_handlers()
        super().after_train(runner)

    # -- saving ---------------------------------------------------------------------------------------------
    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if self.max_keep_ckpts > 0:
            self.keep_ckpt_ids = [s for s in self.keep_ckpt_ids if s != step] + [step]
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        self._write(runner, self.filename_tmpl.format(step), meta)
        self._last_saved_step = step

    def _write(self, runner, filename: str, meta: dict) -> None:
        """Save under a temporary name, rename, repoint ``last_checkpoint``, then prune old checkpoints."""
        final = os.path.join(self.out_dir, filename)
        tmp_name = ckpt_io.temp_name(filename)
        self.last_ckpt = final
        runner.message_hub.update_info("last_ckpt", final)
        runner.save_checkpoint(
            self.out_dir,
            tmp_name,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
        )
        distributed = get_world_size() > 1
        if distributed:
            barrier()  # every rank has written its shard (DeepSpeed) before the rename
        if is_main_process():
            ckpt_io.publish(os.path.join(self.out_dir, tmp_name), final)
            ckpt_io.write_pointer(runner.work_dir, final)
            self._prune(runner, keep=final)
        if distributed:
            barrier()

    def _prune(self, runner, keep: str) -> None:
        if self.max_keep_ckpts <= 0:
            return
        while len(self.keep_ckpt_ids) > self.max_keep_ckpts:
            old = os.path.join(self.out_dir, self.filename_tmpl.format(self.keep_ckpt_ids.pop(0)))
            if Path(old) != Path(keep):
                ckpt_io.remove_checkpoint(old)
        runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))

    # -- signals ----------------------------------------------------------------------------------------------
    def _install_handlers(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning(
                "SafeCheckpointHook: not on the main thread; SIGTERM/SIGINT are not handled"
            )
            return
        self._pending_signal = None
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        _INSTALLED.append(self)

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()
        if self in _INSTALLED:
            _INSTALLED.remove(self)

    def _on_signal(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self._pending_signal is not None:  # asked twice: stop now, the default way
            print(f"xtune: second {name}: exiting without a checkpoint", file=sys.stderr, flush=True)
            self._restore_handlers()
            signal.raise_signal(signum)
            return
        self._pending_signal = signum
        print(
            f"xtune: {name} received: a checkpoint will be saved at the end of this iteration "
            f"(send {name} again to exit at once)",
            file=sys.stderr,
            flush=True,
        )

    def _agreed_signal(self) -> int:
        """The pending signal, agreed across ranks (the largest any rank received; 0 for none)."""
        local = self._pending_signal or 0
        if get_world_size() == 1:
            return local
        import torch
        from mmengine.dist import all_reduce

        flag = torch.tensor([local], dtype=torch.int64)
        all_reduce(flag, op="max")
        return int(flag.item())


def restore_signal_handlers() -> None:
    """Restore the handlers every active :class:`SafeCheckpointHook` replaced (after a crashed run)."""
    for hook in list(_INSTALLED):
        hook._restore_handlers()
