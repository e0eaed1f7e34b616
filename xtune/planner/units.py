"""GPU specs (``2x24GB``) and byte formatting."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xtune.errors import ConfigError

GiB = 1 << 30
# GPU makers' "24 GB"/"80 GB" are binary units (an RTX 4090 reports 24564 MiB, an A100-80GB 81920 MiB),
# so GB and GiB both mean 2**30 bytes here, as in nvidia-smi and torch.cuda.get_device_properties.
_UNITS = {"": GiB, "g": GiB, "gb": GiB, "gib": GiB, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
          "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}  # fmt: skip
_SPEC = re.compile(r"^\s*(?:(\d+)\s*[x×*]\s*)?(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class GpuSpec:
    """``count`` GPUs of ``bytes_each`` memory each."""

    count: int
    bytes_each: int

    def __str__(self) -> str:
        return f"{self.count} x {fmt_bytes(self.bytes_each)}"


def parse_memory(text: str | int | float, key: str = "--gpus") -> int:
    """``'24GB'``/``'80GiB'``/``'512MB'``/``24`` (GiB) → bytes."""
    if isinstance(text, (int, float)):
        return int(text * GiB)
    match = _SPEC.match(str(text))
    if not match or match.group(1) or match.group(3).lower() not in _UNITS:
        raise ConfigError(f"{key}: cannot read a memory size from {text!r}; write it like '24GB' or '80GiB'")
    return int(float(match.group(2)) * _UNITS[match.group(3).lower()])


def parse_gpus(text: str, key: str = "--gpus") -> GpuSpec:
    """``'2x24GB'`` → ``GpuSpec(2, 24 GiB)``; a bare ``'80GB'`` is one GPU."""
    match = _SPEC.match(str(text))
    if not match or match.group(3).lower() not in _UNITS:
        raise ConfigError(f"{key}: cannot read {text!r}; write COUNTxMEMORY, e.g. 2x24GB or 8x80GB")
    count = int(match.group(1) or 1)
    if count < 1:
        raise ConfigError(f"{key}: the GPU count must be at least 1, got {text!r}")
    return GpuSpec(count, int(float(match.group(2)) * _UNITS[match.group(3).lower()]))


def gpus_from_config(value: object, key: str = "gpus") -> GpuSpec:
    """A config's ``gpus = dict(count=2, memory='24GB')`` (or the string ``'2x24GB'``)."""
    if isinstance(value, str):
        return parse_gpus(value, key)
    if isinstance(value, dict):
        unknown = set(value) - {"count", "memory"}
        if unknown or "memory" not in value:
            raise ConfigError(
                f"{key}: expected dict(count=N, memory='24GB'), got {dict(value)!r}"
                + (f" (unknown keys: {', '.join(sorted(unknown))})" if unknown else "")
            )
        count = int(value.get("count", 1))
        if count < 1:
            raise ConfigError(f"{key}.count must be at least 1, got {count}")
        return GpuSpec(count, parse_memory(value["memory"], f"{key}.memory"))
    raise ConfigError(f"{key}: expected dict(count=N, memory='24GB') or '2x24GB', got {value!r}")


def fmt_bytes(n: float) -> str:
    """Bytes as GiB with two decimals (MiB below 1 GiB): what nvidia-smi users compare with."""
    if abs(n) >= GiB or n == 0:
        return f"{n / GiB:.2f} GiB"
    return f"{n / (1 << 20):.1f} MiB"


def fmt_count(n: float) -> str:
    """A parameter count: ``14.17B``, ``250.3M``, ``149.5K``."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}" if suffix == "B" else f"{n / scale:.1f}{suffix}"
    return str(int(n))
