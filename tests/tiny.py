# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The tests' tiny tokenizer and model: the package's on-the-spot builders (``reczero_verl/cpu/tiny_model.py``) at the
smallest sizes, since nothing can be downloaded from a hub in CI. The TbR tags stay ordinary text (never special
tokens), as in a real deployment.
"""

from __future__ import annotations

from pathlib import Path

from reczero_verl.cpu import tiny_model

__all__ = ["TESTS_SPEC", "build_tiny_model", "build_tiny_tokenizer"]

#: A 2-layer Qwen2 of about 20k parameters on a 600-token vocabulary: enough for every test, built in a second or two.
TESTS_SPEC = tiny_model.TinyModelSpec(vocab_size=600, hidden_size=32, intermediate_size=64, num_attention_heads=2)


def build_tiny_tokenizer(out_dir: str | Path) -> Path:
    """A saved byte-level BPE tokenizer with Qwen's ChatML special tokens and chat template."""
    return tiny_model.build_tiny_tokenizer(out_dir, vocab_size=TESTS_SPEC.vocab_size)


def build_tiny_model(out_dir: str | Path, seed: int = 0) -> Path:
    """That tokenizer plus a 2-layer Qwen2 causal LM with random weights, loadable with ``from_pretrained``."""
    return tiny_model.build_tiny_model(out_dir, seed=seed, spec=TESTS_SPEC)
