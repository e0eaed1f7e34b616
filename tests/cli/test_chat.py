"""`xtune chat`: the chat template, streaming, and stopping at the template's end-of-turn token."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xtune.cli.chat import load_chat_model
from xtune.cli.chat import main as chat
from xtune.engine.generate import build_messages, end_of_turn_id, generate_reply, stop_token_ids

PROMPT = "Reverse the letters.\nc a b"


def test_end_of_turn_is_read_from_the_chat_template(tiny_tokenizer):
    im_end = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end_of_turn_id(tiny_tokenizer) == im_end
    assert im_end in stop_token_ids(tiny_tokenizer)


@pytest.mark.slow
def test_one_shot_chat_stops_at_end_of_turn_and_prints_the_reply(repo, demo_run):
    adapter = demo_run / "hf"
    model, tokenizer = load_chat_model(str(adapter), None)
    reply = generate_reply(model, tokenizer, build_messages(PROMPT), max_new_tokens=64)
    assert reply.stopped and 1 <= reply.new_tokens < 64  # ended by <|im_end|>, not by the token limit
    assert reply.text.strip()

    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, str(repo / "tools/chat.py"), str(adapter), "--prompt", PROMPT, "--max-new-tokens", "64"],
        capture_output=True, text=True, env=env, cwd=repo, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == reply.text.strip()  # streamed to stdout, special tokens hidden
    assert "<|im_end|>" not in done.stdout and "cut at" not in done.stderr


@pytest.mark.slow
def test_untrained_model_is_cut_at_max_new_tokens_and_says_so(tiny_model_dir, capsys):
    # the random base never produces <|im_end|> here: the limit, not the stop token, ends the reply
    assert chat([str(tiny_model_dir), "--prompt", PROMPT, "--max-new-tokens", "12"]) == 0
    assert "reply cut at --max-new-tokens 12" in capsys.readouterr().err


@pytest.mark.slow
def test_interactive_chat_keeps_history_and_exits(demo_run, monkeypatch, capsys):
    turns = iter([PROMPT, "Add the numbers.\n2 + 3", "/reset", "/exit"])
    seen = []

    def fake_input(prompt=""):
        seen.append(prompt)
        return next(turns)

    monkeypatch.setattr("builtins.input", fake_input)
    assert chat([str(demo_run / "hf"), "--system", "You are terse.", "--max-new-tokens", "32"]) == 0
    out = capsys.readouterr()
    assert len(seen) == 4  # the loop ended at /exit (StopIteration would have failed the test)
    assert "cut at" not in out.err
    assert (
        len([line for line in out.out.splitlines() if line.strip()]) == 2
    )  # two replies; /reset, /exit none
