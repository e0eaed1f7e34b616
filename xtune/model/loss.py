"""Causal-LM losses computed from the decoder's hidden states and the output head."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xtune.registry import LOSSES

IGNORE_INDEX = -100


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """Labels aligned with inputs (HF convention) → the target of each position (next token)."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


@LOSSES.register_module()
class CrossEntropy:
    """Token-level mean cross-entropy over trained (non ``-100``) targets; logits in fp32."""

    def __init__(self) -> None:
        pass

    def __call__(self, hidden: torch.Tensor, head: nn.Module, labels: torch.Tensor) -> torch.Tensor:
        targets = shift_labels(labels)
        logits = head(hidden).float()
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX
        )


@LOSSES.register_module()
class ChunkedCrossEntropy:
    """The same loss as :class:`CrossEntropy`, without ever holding the whole sequence's fp32 logits.

    The head and the loss run over ``chunk_size`` trained tokens at a time, so the fp32 logits alive
    at once are ``chunk_size × vocab`` (~0.6 GB for 1024 × 152k) instead of ``tokens × vocab`` (5 GB at
    8k tokens), in forward and in backward alike. Prompt and padding positions (target ``-100``) are
    dropped before the head runs, so they cost no head FLOPs at all.

    Paths, picked per call:

    - **fused** (a plain ``nn.Linear`` head, also inside a peft ``ModulesToSaveWrapper``): a custom
      autograd function computes each chunk's logits, loss and gradients in one pass during forward
      and keeps only ``d hidden`` (tokens × hidden) and ``d weight`` for backward. This is the
      Liger-kernel scheme in plain torch: 3 matmuls per chunk (2 for a frozen head, as in LoRA)
      against 4 for recomputing logits in backward, same memory bound.
    - **liger** (``use_liger`` None/True, liger-kernel installed, CUDA, plain head): liger's fused
      Triton kernel.
    - **checkpointed** (any other head, e.g. a LoRA-wrapped ``lm_head``): ``head(chunk)`` and its
      loss under ``torch.utils.checkpoint``, recomputed chunk by chunk in backward.
    - **sharded** (ZeRO-3/FSDP-partitioned head weights): gathered once per call, never per chunk
      (ranks hold different token counts; see ``_sharded_loss``).

    Args:
        chunk_size: trained tokens per chunk.
        use_liger: ``None`` uses liger-kernel when it is installed and the hidden states are on a GPU;
            ``False`` never; ``True`` requires it (on a GPU).
    """

    def __init__(self, chunk_size: int = 1024, use_liger: bool | None = None) -> None:
        from xtune.errors import ConfigError

        if chunk_size <= 0:
            raise ConfigError(f"model.loss.chunk_size must be a positive integer, got {chunk_size}")
        self.chunk_size = chunk_size
        self.use_liger = use_liger
        self.last_path: str | None = None  # which path the last call took (for tests and logs)

    def __call__(self, hidden: torch.Tensor, head: nn.Module, labels: torch.Tensor) -> torch.Tensor:
        targets = shift_labels(labels).reshape(-1)
        hidden = hidden.reshape(-1, hidden.size(-1))
        valid = targets != IGNORE_INDEX
        n_valid = int(valid.sum())  # one host sync: the chunk loop below needs the count anyway
        if n_valid == 0:
            # No trained token (e.g. a row truncated inside its prompt): a zero loss with zero
            # gradients rather than the NaN of 0/0, so gradient accumulation is not poisoned.
            self.last_path = "empty"
            return hidden.sum() * 0.0
        if n_valid < targets.numel():
            index = valid.nonzero().squeeze(1)
            hidden, targets = hidden.index_select(0, index), targets.index_select(0, index)

        inner = _unwrap(head)
        if _sharded(inner):
            return self._sharded_loss(hidden, head, inner, targets)
        linear = inner if _is_plain_linear(inner) else None
        if linear is not None and self._liger_wanted(hidden):
            self.last_path = "liger"
            return _liger_loss(hidden, linear, targets)
        if linear is not None:
            self.last_path = "fused"
            return self._fused(hidden, linear, targets)
        self.last_path = "checkpointed"
        return _checkpointed_loss(hidden, head, targets, self.chunk_size)

    def _fused(self, hidden: torch.Tensor, linear: nn.Linear, targets: torch.Tensor) -> torch.Tensor:
        weight, bias = linear.weight, linear.bias
        dtype = _compute_dtype(hidden, weight)
        needs_grad = torch.is_grad_enabled() and (
            hidden.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
        )
        return _FusedLinearCrossEntropy.apply(
            hidden, weight, bias, targets, self.chunk_size, dtype, needs_grad
        )

    def _sharded_loss(self, hidden: torch.Tensor, head: nn.Module, inner: nn.Module, targets: torch.Tensor):
        """A head whose weights are partitioned across ranks (DeepSpeed ZeRO-3, FSDP).

        Gathering them is a collective every rank must call equally often, while the chunk count
        follows each rank's own number of trained tokens: never gather per chunk. A frozen plain head
        (LoRA, QLoRA) is gathered once and runs the fused chunked path; any other head runs once, over
        the trained tokens, through its own forward, where the sharding framework gathers its weights
        and routes their gradients.
        """
        trains = any(p.requires_grad for p in inner.parameters())
        if not trains and _is_plain_linear(inner, allow_sharded=True) and _zero3(inner):
            import deepspeed

            self.last_path = "sharded-fused"
            with deepspeed.zero.GatheredParameters(list(inner.parameters()), modifier_rank=None):
                return self._fused(hidden, inner, targets)
        self.last_path = "sharded-whole"
        return F.cross_entropy(head(hidden).float(), targets)

    def _liger_wanted(self, hidden: torch.Tensor) -> bool:
        if self.use_liger is False:
            return False
        available = hidden.is_cuda and _liger_available()
        if self.use_liger and not available:
            from xtune.errors import ConfigError

            raise ConfigError(
                "model.loss.use_liger=True needs liger-kernel (pip install liger-kernel) and a CUDA GPU; "
                "set it to None to fall back to the chunked loss."
            )
        return available


def _liger_available() -> bool:
    try:
        import liger_kernel  # noqa: F401
    except ImportError:
        return False
    return True


def _liger_loss(hidden: torch.Tensor, linear: nn.Linear, targets: torch.Tensor) -> torch.Tensor:
    from liger_kernel.transformers.fused_linear_cross_entropy import LigerFusedLinearCrossEntropyLoss

    out = LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE_INDEX)(
        linear.weight, hidden, targets, linear.bias
    )
    return out[0] if isinstance(out, tuple) else out


def _unwrap(head: nn.Module) -> nn.Module:
    """The module a peft ``ModulesToSaveWrapper`` would run (its trained copy or the original)."""
    if hasattr(head, "modules_to_save") and hasattr(head, "original_module"):
        active = list(getattr(head, "active_adapters", []) or [])
        if getattr(head, "disable_adapters", False) or not active:
            return head.original_module
        if len(active) == 1 and active[0] in head.modules_to_save:
            return head.modules_to_save[active[0]]
    return head


def _zero3(module: nn.Module) -> bool:
    return any(hasattr(p, "ds_id") for p in module.parameters())


def _sharded(module: nn.Module) -> bool:
    """Weights that only exist whole inside a collective (DeepSpeed ZeRO-3 partitions, FSDP DTensors)."""
    return any(hasattr(p, "ds_id") or type(p.data) is not torch.Tensor for p in module.parameters())


def _is_plain_linear(module: nn.Module, allow_sharded: bool = False) -> bool:
    """An ``nn.Linear`` whose weight the fused path may read directly.

    Quantized (bitsandbytes) and LoRA-wrapped heads override ``forward`` and are not plain.
    """
    if not isinstance(module, nn.Linear) or type(module).forward is not nn.Linear.forward:
        return False
    return allow_sharded or tuple(module.weight.shape) == (module.out_features, module.in_features)


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The matmul dtype ``head(hidden)`` would use here: autocast's when it is on, else the weight's."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return weight.dtype


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """``sum_t CE(hidden_t @ W.T + b, target_t) / n`` with gradients computed chunk by chunk in forward.

    Per chunk: fp32 logits, log-sum-exp, the loss terms, then the softmax minus one-hot written into
    the same buffer, which gives ``d hidden`` and ``d W``. Only those gradients (hidden-sized and
    weight-sized) outlive the chunk; backward multiplies them by the incoming gradient.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_size, dtype, needs_grad):  # type: ignore[override]
        n = hidden.size(0)
        grads = _Grads(
            hidden=torch.empty_like(hidden) if needs_grad and ctx.needs_input_grad[0] else None,
            weight=torch.zeros_like(weight) if needs_grad and ctx.needs_input_grad[1] else None,
            bias=torch.zeros(weight.size(0), dtype=torch.float32, device=weight.device)
            if needs_grad and bias is not None and ctx.needs_input_grad[2]
            else None,
        )
        w = weight.to(dtype)
        b = bias.to(dtype) if bias is not None else None
        loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
        device = hidden.device.type
        with (
            torch.autocast(device, enabled=False)
            if torch.is_autocast_enabled(device)
            else contextlib.nullcontext()
        ):
            for start in range(0, n, chunk_size):
                rows = slice(start, start + chunk_size)
                loss += _chunk_forward_backward(
                    hidden[rows], targets[rows], w, b, dtype, 1.0 / n, grads, rows
                )
        ctx.save_for_backward(grads.hidden, grads.weight, grads.bias)
        ctx.bias_dtype = bias.dtype if bias is not None else None
        return loss / n

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        grad_hidden, grad_weight, grad_bias = ctx.saved_tensors
        scale = grad_output.to(torch.float32)
        out_h = grad_hidden * scale.to(grad_hidden.dtype) if grad_hidden is not None else None
        out_w = grad_weight * scale.to(grad_weight.dtype) if grad_weight is not None else None
        out_b = (grad_bias * scale).to(ctx.bias_dtype) if grad_bias is not None else None
        return out_h, out_w, out_b, None, None, None, None


class _Grads:
    """Gradient buffers filled chunk by chunk (None for inputs that need none)."""

    def __init__(self, hidden, weight, bias) -> None:
        self.hidden, self.weight, self.bias = hidden, weight, bias

    def any(self) -> bool:
        return self.hidden is not None or self.weight is not None or self.bias is not None


def _chunk_forward_backward(h, t, w, b, dtype, scale: float, grads: _Grads, rows: slice) -> torch.Tensor:
    """Loss sum of one chunk; adds the chunk's gradients into ``grads``.

    A function of its own so the chunk's logits are freed before the next chunk's are allocated
    (a loop variable would keep them alive through the next matmul: twice the peak).
    """
    h = h.to(dtype)
    logits = (torch.addmm(b, h, w.t()) if b is not None else h @ w.t()).float()  # fp32 copy unless fp32
    # log-sum-exp and softmax in the logits' own buffer (torch.logsumexp allocates a chunk-sized temporary)
    target_logit = logits.gather(1, t.unsqueeze(1)).squeeze(1)
    row_max = logits.amax(dim=-1, keepdim=True)
    probs = logits.sub_(row_max).exp_()
    sum_exp = probs.sum(dim=-1, keepdim=True)
    loss = (row_max.squeeze(1) + sum_exp.squeeze(1).log() - target_logit).sum()
    if not grads.any():
        return loss
    grad = probs.div_(sum_exp)  # d loss / d logits = (softmax - onehot) / n
    grad[torch.arange(t.numel(), device=t.device), t] -= 1.0
    grad.mul_(scale)
    if grads.bias is not None:
        grads.bias += grad.sum(0)
    grad = grad.to(dtype)
    if grads.hidden is not None:
        grads.hidden[rows] = grad @ w
    if grads.weight is not None and grads.weight.dtype == dtype:
        grads.weight.addmm_(grad.t(), h)
    elif grads.weight is not None:  # fp32 weights under bf16 autocast (full fine-tuning)
        grads.weight.add_(grad.t() @ h)
    return loss


def _chunk_loss_sum(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(hidden).float()
    return F.cross_entropy(logits, targets, reduction="sum")


def _checkpointed_loss(hidden: torch.Tensor, head: nn.Module, targets: torch.Tensor, chunk_size: int) -> Any:
    """Chunks through ``head``'s own forward; each chunk's logits are recomputed in backward."""
    from torch.utils.checkpoint import checkpoint

    n = hidden.size(0)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, n, chunk_size):
        h, t = hidden[start : start + chunk_size], targets[start : start + chunk_size]
        if torch.is_grad_enabled():
            total = total + checkpoint(_chunk_loss_sum, head, h, t, use_reentrant=False)
        else:
            total = total + _chunk_loss_sum(head, h, t)
    return total / n
