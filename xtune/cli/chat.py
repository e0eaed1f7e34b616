"""``xtune chat MODEL [--adapter DIR] [--prompt TEXT]``: talk to a model with its own chat template.

MODEL is a Hugging Face model (local dir or hub id, e.g. a merged model), or a PEFT adapter directory
(its base is read from ``adapter_config.json``). With ``--prompt`` it answers once and exits; without, it
reads turns from the terminal (``/reset`` clears the history, Ctrl-C stops a reply, ``/exit`` or Ctrl-D
quits). Replies stream as they are generated and end at the template's end-of-turn token (``<|im_end|>``
for Qwen).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from xtune.cli.common import user_errors
from xtune.errors import ModelLoadError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xtune chat", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="model dir / hub id / embedded:NAME, or a PEFT adapter dir")
    parser.add_argument("--adapter", help="a PEFT adapter dir to apply to MODEL")
    parser.add_argument("--prompt", help="answer this one message and exit")
    parser.add_argument("--system", help="system message")
    parser.add_argument("--max-new-tokens", type=int, default=512, help="longest reply (default 512)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 (default) decodes greedily")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--dtype", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                        help="auto: bf16 on GPUs that have it, else fp16 on GPU, fp32 on CPU")  # fmt: skip
    parser.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the model")
    return parser


def load_chat_model(model: str, adapter: str | None, dtype: str = "auto", trust_remote_code: bool = False):
    """``(model, tokenizer)`` ready to generate: the base with the adapter applied (merged in memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    from xtune.engine.export import load_any_tokenizer
    from xtune.hub import resolve_model_path

    if adapter is None and (Path(model) / "adapter_config.json").is_file():
        adapter = model
        with open(Path(model) / "adapter_config.json") as f:
            model = json.load(f).get("base_model_name_or_path") or ""
        if not model:
            raise ModelLoadError(
                f"{adapter}/adapter_config.json names no base model; pass it: MODEL --adapter DIR"
            )
    base = resolve_model_path(model, key="MODEL")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        torch_dtype = torch.float32 if device == "cpu" else (
            torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)  # fmt: skip
    else:
        torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    llm = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype, trust_remote_code=trust_remote_code)
    if adapter is not None:
        from peft import PeftModel

        llm = PeftModel.from_pretrained(llm, adapter).merge_and_unload()
    has_tokenizer = adapter is not None and (Path(adapter) / "tokenizer_config.json").is_file()
    tokenizer = load_any_tokenizer(adapter if has_tokenizer else base, trust_remote_code=trust_remote_code)
    return llm.to(device).eval(), tokenizer


@user_errors
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model, tokenizer = load_chat_model(args.model, args.adapter, args.dtype, args.trust_remote_code)
    if not getattr(tokenizer, "chat_template", None):
        print("xtune: the tokenizer has no chat template; prompts are sent as plain text", file=sys.stderr)
    if args.prompt is not None:
        reply(model, tokenizer, args, history=[], prompt=args.prompt)
        return 0
    return interactive(model, tokenizer, args)


def reply(model: Any, tokenizer: Any, args: argparse.Namespace, history: list[dict], prompt: str):
    """Stream one reply to stdout; returns the :class:`xtune.engine.generate.Reply`."""
    from transformers import TextStreamer

    from xtune.engine.generate import build_messages, generate_reply

    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    result = generate_reply(
        model,
        tokenizer,
        build_messages(prompt, args.system, history),
        max_new_tokens=args.max_new_tokens,
        streamer=streamer,
        temperature=args.temperature,
        top_p=args.top_p,
    )
    if not result.stopped:
        print(f"[xtune: reply cut at --max-new-tokens {args.max_new_tokens}]", file=sys.stderr, flush=True)
    return result


def interactive(model: Any, tokenizer: Any, args: argparse.Namespace) -> int:
    print("xtune chat: /reset clears the conversation, /exit or Ctrl-D quits.", file=sys.stderr)
    history: list[dict] = []
    while True:
        try:
            prompt = input("\n>>> ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        command = prompt.strip()
        if command in ("/exit", "/quit"):
            return 0
        if command == "/reset":
            history.clear()
            continue
        if not command:
            continue
        try:
            result = reply(model, tokenizer, args, history, prompt)
        except KeyboardInterrupt:  # Ctrl-C stops this reply, not the session
            print("\n[interrupted]", file=sys.stderr)
            continue
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": result.text}]
