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
