"""bitsandbytes' memory-saving AdamW variants, registered so configs can name them.

``optim_wrapper.optimizer=dict(type="AdamW8bit", lr=2e-4)``:

- ``AdamW8bit``: both moments stored as 8-bit blocks with an fp32 scale per block (Dettmers et al.
  2022): ~2 bytes of optimizer state per trained parameter instead of 8. Tensors smaller than
  ``min_8bit_size`` elements keep 32-bit states (bitsandbytes' rule; tiny LoRA matrices do).
- ``PagedAdamW`` / ``PagedAdamW8bit``: states in CUDA unified memory, paged out to CPU RAM when the
  GPU runs short instead of failing with out-of-memory (QLoRA paper). On CPU bitsandbytes falls back
  to ordinary (unpaged) states with a warning.

Each is a function (not a class) so bitsandbytes is imported only when the optimizer is built; the
explicit, typed signature lets config validation check the keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from xtune.registry import OPTIMIZERS


def _bnb_optim() -> Any:
    try:
        import bitsandbytes as bnb
    except ImportError as exc:  # pragma: no cover - bitsandbytes is a pinned requirement
        from xtune.errors import ConfigError

        raise ConfigError(
            "optim_wrapper.optimizer: 8-bit and paged AdamW need bitsandbytes (pip install bitsandbytes)"
        ) from exc
    return bnb.optim


@OPTIMIZERS.register_module()
def AdamW8bit(
    params: Iterable,
    lr: float = 1e-3,
    betas: tuple[float, float] | list[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    min_8bit_size: int = 4096,
) -> Any:
    """AdamW with 8-bit block-wise quantized moments (bitsandbytes ``AdamW8bit``)."""
    return _bnb_optim().AdamW8bit(
        params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, min_8bit_size=min_8bit_size
    )


@OPTIMIZERS.register_module()
def PagedAdamW(
    params: Iterable,
    lr: float = 1e-3,
    betas: tuple[float, float] | list[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> Any:
    """AdamW with 32-bit moments in paged (CPU-spillable) GPU memory (bitsandbytes ``PagedAdamW``)."""
    return _bnb_optim().PagedAdamW(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)


@OPTIMIZERS.register_module()
def PagedAdamW8bit(
    params: Iterable,
    lr: float = 1e-3,
    betas: tuple[float, float] | list[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    min_8bit_size: int = 4096,
) -> Any:
    """8-bit moments in paged GPU memory (bitsandbytes ``PagedAdamW8bit``), the QLoRA paper's choice."""
    return _bnb_optim().PagedAdamW8bit(
        params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, min_8bit_size=min_8bit_size
    )
