# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: tiny local tokenizer/model (see ``tests/tiny.py``) and the optional real data in ``../shared``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny import build_tiny_model, build_tiny_tokenizer

#: Real datasets beside the checkout (absent in a user's fresh clone: tests that need them skip).
SHARED_DATA = Path(os.environ.get("RECZERO_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A saved tokenizer (ChatML chat template, Qwen special tokens); load with AutoTokenizer.from_pretrained."""
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tiny_tokenizer"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved 2-layer random Qwen2 causal LM with its tokenizer, loadable with from_pretrained."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` when present; skips the test otherwise."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA
