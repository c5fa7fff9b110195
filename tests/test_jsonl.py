# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Durable JSON-lines output shared by ``coldstart`` and ``generate``: tail repair, durable appends, exclusive lock."""

from __future__ import annotations

import pytest

from reczero_verl.jsonl import DurableAppender, exclusive_lock, repair_tail


def test_partial_last_line_is_cut_and_appending_resumes(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3')  # a write cut by a kill
    with DurableAppender(path) as out:
        out.append('{"a": 4}')
    assert path.read_text().splitlines() == ['{"a": 1}', '{"a": 2}', '{"a": 4}']
    assert repair_tail(path) == 0  # complete files are left alone


def test_append_refuses_embedded_newlines_and_use_outside_with(tmp_path):
    out = DurableAppender(tmp_path / "x.jsonl")
    with pytest.raises(RuntimeError):
        out.append("{}")
    with out, pytest.raises(ValueError):
        out.append('{"a":\n1}')


def test_second_holder_of_the_lock_gets_the_callers_error(tmp_path):
    lock = tmp_path / "x.lock"
    with exclusive_lock(lock, RuntimeError("first")):
        with pytest.raises(KeyError, match="busy"):
            with exclusive_lock(lock, KeyError("busy")):
                pass
    with exclusive_lock(lock, RuntimeError("free again")):
        pass
