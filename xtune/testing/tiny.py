"""Materialise the embedded tiny Qwen2 model and its tokenizer into a local cache on first use.

A config names it as ``model = dict(path='embedded:tiny-qwen2')``; :func:`embedded_model_path` turns
that into a real local directory holding ``config.json``, ``model.safetensors`` and the tokenizer
files, which then load through the ordinary ``transformers.from_pretrained`` path.

The tokenizer is a byte-level BPE of a few hundred tokens trained on the demo task's text, with the
Qwen specials (``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``) and Qwen's ChatML chat template,
so everything downstream (templates, masking, stopping at ``<|im_end|>``) behaves as with real Qwen.
A 151k-entry vocabulary would make every CPU step 100x slower for no gain in what the tests prove.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from xtune.testing.demo_data import make_demo_samples

EMBEDDED_PREFIX = "embedded:"
FORMAT_VERSION = "1"  # bump when the recipe below changes, so stale caches are rebuilt
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Qwen1.5's chat template (ChatML with a default system prompt).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TINY_SHAPES = {
    "tiny-qwen2": dict(
        hidden_size=128,
        intermediate_size=352,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
    ),
}


def is_embedded(path: str | os.PathLike) -> bool:
    """True when ``path`` names an embedded model (``embedded:<name>``)."""
    return isinstance(path, str) and path.startswith(EMBEDDED_PREFIX)


def cache_root() -> Path:
    """Where embedded models live: ``$XTUNE_CACHE`` or ``~/.cache/xtune``."""
    return Path(os.environ.get("XTUNE_CACHE", Path.home() / ".cache" / "xtune"))


def embedded_model_path(path: str) -> str:
    """Return a local directory for ``embedded:<name>``, building it on first use."""
    name = path[len(EMBEDDED_PREFIX) :]
    if name not in TINY_SHAPES:
        from xtune.errors import ModelLoadError

        raise ModelLoadError(f"unknown embedded model `{path}`; known: {sorted(TINY_SHAPES)}")
    return str(materialize_tiny(name))


def build_tiny_tokenizer(vocab_size: int = 384):
    """Train the byte-level BPE on demo-style text; deterministic for a fixed corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in make_demo_samples(2000, seed=123)]
    frame = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|im_start|>assistant\n"
    corpus += [frame] * 200
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        chat_template=CHATML_TEMPLATE,
        model_max_length=2048,
    )


def build_tiny_model(tokenizer, name: str = "tiny-qwen2", seed: int = 0):
    """A randomly initialised ``Qwen2ForCausalLM`` of about 1M parameters, fp32."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        **TINY_SHAPES[name],
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=[config.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    return model


def build_cached_dir(target: Path, write: Callable[[Path], None]) -> Path:
    """Return ``target``, first filling it with ``write(staging_dir)`` when it does not exist yet.

    The files are written to a temporary sibling directory and renamed into place, so an interrupted
    build never leaves a half-written cache, and two processes racing to build it end with one copy.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process won the race; its copy is identical
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def materialize_tiny(name: str = "tiny-qwen2", root: Path | None = None) -> Path:
    """Build model + tokenizer into ``root/<name>-v<N>`` once; later calls return the cached directory."""

    def write(staging: Path) -> None:
        tokenizer = build_tiny_tokenizer()
        build_tiny_model(tokenizer, name).save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)

    return build_cached_dir((root or cache_root()) / f"{name}-v{FORMAT_VERSION}", write)
