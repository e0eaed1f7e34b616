"""Crash-safe checkpoint files: temporary names, atomic renames, the ``last_checkpoint`` pointer, resume.

A checkpoint (an mmengine ``.pth`` file, or a DeepSpeed directory of per-rank shards) is written under a
hidden temporary name in its final directory, flushed to disk, then renamed: a reader sees either the
whole checkpoint or nothing. ``last_checkpoint`` is rewritten (itself atomically) only after the rename,
so a process killed mid-save leaves the previous pointer and checkpoint intact. These functions hold the
file logic; :class:`xtune.engine.hooks.SafeCheckpointHook` calls them from training.
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

POINTER = "last_checkpoint"
TEMP_SUFFIX = ".tmp"
_STEP = re.compile(r"^(?:iter|epoch)_(\d+)\.pth$")


def temp_name(filename: str) -> str:
    """The hidden in-progress name of checkpoint ``filename`` (the same on every rank)."""
    return f".{filename}{TEMP_SUFFIX}"


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def fsync_tree(path: str | os.PathLike) -> None:
    """Flush a file, or every file and directory under a directory, and its parent directory, to disk."""
    path = Path(path)
    if path.is_dir():
        for entry in [path, *path.rglob("*")]:
            if entry.is_dir():
                _fsync_dir(entry)
            else:
                _fsync_file(entry)
    else:
        _fsync_file(path)
    _fsync_dir(path.parent)


def _fsync_file(file: Path) -> None:
    with open(file, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Flush ``tmp`` and rename it to ``final`` atomically (replacing an older ``final``)."""
    tmp, final = Path(tmp), Path(final)
    fsync_tree(tmp)
    if final.is_dir() and not final.is_symlink():
        # os.replace cannot replace a non-empty directory: move the old one aside first. A crash in
        # between leaves the new checkpoint under its temporary name and the old one under `.old`,
        # both ignored by `last_complete_checkpoint`, and the pointer still names the previous step.
        aside = final.with_name(f".{final.name}.old{TEMP_SUFFIX}")
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(final, aside)
        os.replace(tmp, final)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(tmp, final)
    _fsync_dir(final.parent)


def write_pointer(work_dir: str | os.PathLike, checkpoint: str | os.PathLike) -> None:
    """Atomically point ``WORK_DIR/last_checkpoint`` at ``checkpoint`` (what mmengine's resume reads)."""
    pointer = Path(work_dir) / POINTER
    tmp = pointer.with_name(f".{POINTER}{TEMP_SUFFIX}")
    with open(tmp, "w") as f:
        f.write(str(checkpoint))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, pointer)
    _fsync_dir(pointer.parent)


def checkpoint_step(path: str | os.PathLike) -> int | None:
    """The iteration/epoch number in an ``iter_N.pth`` / ``epoch_N.pth`` name, else None."""
    match = _STEP.match(Path(path).name)
    return int(match.group(1)) if match else None


def is_complete(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a whole checkpoint: a torch zip file with its central directory, or a
    DeepSpeed checkpoint directory whose ``*.pt`` files all are; never a temporary name."""
    path = Path(path)
    if is_temp_name(path.name) or not path.exists():
        return False
    if path.is_file():
        return zipfile.is_zipfile(path)
    shards = list(path.glob("*.pt"))
    return (
        bool(shards)
        and any("model_states" in s.name for s in shards)
        and all(map(zipfile.is_zipfile, shards))
    )


def last_complete_checkpoint(work_dir: str | os.PathLike) -> str | None:
    """The checkpoint ``--resume`` should continue from, ignoring partial and temporary files.

    The ``last_checkpoint`` pointer wins when it names a complete checkpoint; otherwise the complete
    ``iter_N.pth`` / ``epoch_N.pth`` with the highest ``N`` in ``work_dir``; None when there is none.
    """
    work_dir = Path(work_dir)
    pointer = work_dir / POINTER
    if pointer.is_file():
        target = Path(pointer.read_text().strip())
        if not target.is_absolute():
            target = work_dir / target
        if is_complete(target):
            return str(target)
    candidates = sorted(
        (p for p in work_dir.iterdir() if checkpoint_step(p) is not None) if work_dir.is_dir() else [],
        key=lambda p: (checkpoint_step(p), p.stat().st_mtime),
        reverse=True,
    )
    return next((str(p) for p in candidates if is_complete(p)), None)


def remove_stale_temps(directory: str | os.PathLike) -> list[str]:
    """Delete temporary checkpoints left by a killed save in ``directory``; returns what was removed."""
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        if not is_temp_name(entry.name):
            continue
        target = entry.name[1 : -len(TEMP_SUFFIX)].removesuffix(".old")
        if checkpoint_step(target) is not None or target == POINTER:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(str(entry))
    return removed


def remove_checkpoint(path: str | os.PathLike) -> None:
    """Delete a checkpoint file or DeepSpeed directory (missing is fine)."""
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# -- reading checkpoints back (convert, dry run) ------------------------------------------------------------
def is_deepspeed_checkpoint(path: str | os.PathLike) -> bool:
    """A directory written by DeepSpeed: a tag dir of ``*model_states.pt`` shards, or a parent with ``latest``."""
    path = Path(path)
    return path.is_dir() and (any(path.glob("*model_states.pt")) or (path / "latest").is_file())


def load_state_dict(path: str | os.PathLike, keep: Any = None) -> dict[str, Any]:
    """The model weights of an xtune checkpoint, on CPU, with ``module.`` wrapper prefixes removed.

    ``path`` is an mmengine ``.pth`` file (single process or DDP) read with ``torch.load(weights_only=True)``
    and memory-mapped, or a DeepSpeed ZeRO-1/2/3 checkpoint directory consolidated with DeepSpeed's own
    ``zero_to_fp32`` (which unpickles the files: convert only checkpoints you produced). ``keep(name)``
    filters names before tensors are materialised (ZeRO-3 frozen weights are then never read).
    """
    import torch

    path = Path(path)
    if is_deepspeed_checkpoint(path):
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        if (path / "latest").is_file():
            root, tag = path, None
        else:
            root, tag = path.parent, path.name
        lazy = get_fp32_state_dict_from_zero_checkpoint(str(root), tag=tag, lazy_mode=True)
        names = [n for n in lazy if keep is None or keep(_strip_module(n))]
        return {_strip_module(n): _materialise(lazy[n]) for n in names}

    from xtune.engine.compat import allow_mmengine_checkpoint_globals

    allow_mmengine_checkpoint_globals()
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    return {_strip_module(n): t for n, t in state.items() if keep is None or keep(_strip_module(n))}


def _materialise(value: Any) -> Any:
    return value.contiguous() if hasattr(value, "contiguous") else value


def _strip_module(name: str) -> str:
    return name[len("module.") :] if name.startswith("module.") else name


# -- why a run stopped ----------------------------------------------------------------------------------------
STOP_SIGNAL_KEY = "xtune_stop_signal"


def stop_signal(runner: Any) -> int | None:
    """The signal number that stopped ``runner``'s training early (after saving), or None."""
    return runner.message_hub.runtime_info.get(STOP_SIGNAL_KEY)
