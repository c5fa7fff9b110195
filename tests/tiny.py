# Copyright 2026 The reczero-verl Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Tiny local stand-ins for a hub model: a BPE tokenizer trained on the fly and a 2-layer Qwen2 with random weights.

Nothing can be downloaded from a hub in CI, so every test that needs a tokenizer or a model builds one here, in a
temporary folder, in a second or two. The tokenizer has Qwen's ChatML special tokens and a ChatML chat template; the
TbR tags are ordinary text (never special tokens), as in a real deployment.
"""

from __future__ import annotations

from pathlib import Path

from reczero_verl.template import SECTION_NAMES, close_tag, open_tag, prefill_chat_template, system_prompt

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: ChatML, rendering each message on its own (what verl's SFT dataset requires): the package's template, no pre-fill.
CHATML_TEMPLATE = prefill_chat_template(prefill="")


def _corpus() -> list[str]:
    tags = " ".join(open_tag(n) + " text " + close_tag(n) for n in SECTION_NAMES)
    base = [
        system_prompt("tbr"),
        system_prompt("plain", 1, 10),
        tags,
        "The user loves comfortable running shoes and rated 5, 4, 3.5, 2, 1 before. Review: great fit, too small.",
        "Rating scale: 1 to 5. Past ratings (most recent first): rated 4. Average rating of this item: 3.67",
        "0 1 2 3 4 5 6 7 8 9 10 . , : ; ! ? ' \" ( ) - / é ü 日本 😀",
    ]
    return base * 20


def build_tiny_tokenizer(out_dir: str | Path, vocab_size: int = 600) -> Path:
    """Train a byte-level BPE tokenizer and save it as a transformers tokenizer with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(str(out))
    return out


def build_tiny_model(out_dir: str | Path, seed: int = 0) -> Path:
    """Save a tokenizer plus a 2-layer Qwen2 causal LM with random weights (a few hundred KB) in ``out_dir``."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    out = build_tiny_tokenizer(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out))
    return out
