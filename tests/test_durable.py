# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Durable file writing shared by every command: JSON lines (tail repair, durable appends), locks, atomic single
files and staged folders."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reczero_verl import durable
from reczero_verl.durable import DurableAppender, exclusive_lock, repair_tail


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


def _hold_lock_then_die(lock_path, ready):
    lock = durable.FileLock(lock_path, timeout=0)
    lock.acquire()
    ready.set()
    signal.pause()


def test_a_killed_holders_lock_is_free_again(tmp_path):
    lock = tmp_path / "x.lock"
    ready = multiprocessing.get_context("fork").Event()
    holder = multiprocessing.get_context("fork").Process(target=_hold_lock_then_die, args=(str(lock), ready))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(KeyError):
            with exclusive_lock(lock, KeyError("busy")):
                pass
        assert not durable._lock_is_free(lock)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    assert durable._lock_is_free(lock)  # the kernel released it with the process
    with exclusive_lock(lock, KeyError("busy")):
        pass


def test_atomic_json_and_parquet_replace_whole_files(tmp_path):
    path = tmp_path / "stats.json"
    durable.write_json_atomic({"a": "é", "n": 1}, path)
    assert path.read_text(encoding="utf-8") == '{\n  "a": "é",\n  "n": 1\n}\n'
    durable.write_json_atomic({"a": "é"}, path, ensure_ascii=True)
    assert path.read_text() == '{\n  "a": "\\u00e9"\n}\n'
    with pytest.raises(ValueError):
        durable.write_json_atomic({"x": float("nan")}, path)
    assert json.loads(path.read_text()) == {"a": "é"}  # a failed write leaves the previous file
    table = pa.table({"x": [1, 2]})
    durable.write_parquet_atomic(table, tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").equals(table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json", "t.parquet"]  # no temporary file left


def _staged(target, files, publish=True):
    with durable.staged_folder(target, "test") as stage:
        for name, text in files.items():
            (stage.path / name).write_text(text)
        if publish:
            stage.publish()


def _leftovers(target):
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


@pytest.mark.parametrize("exchange", [True, False])
def test_staged_folder_swaps_a_whole_folder(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(durable, "_exchange", lambda a, b: False)
    target = tmp_path / "nested" / "out"
    _staged(target, {"a.txt": "1", "b.txt": "1"})
    _staged(target, {"a.txt": "2"})
    assert {p.name: p.read_text() for p in target.iterdir()} == {"a.txt": "2"}  # b.txt of the old run is gone
    _staged(target, {"a.txt": "3"}, publish=False)
    with pytest.raises(RuntimeError):
        with durable.staged_folder(target, "test") as stage:
            (stage.path / "a.txt").write_text("4")
            raise RuntimeError("killed half-way")
    assert {p.name: p.read_text() for p in target.iterdir()} == {"a.txt": "2"}
    assert _leftovers(target) == []


def test_a_kill_inside_the_two_rename_swap_is_repaired(tmp_path):
    """State after a SIGKILL between the two renames of the fallback swap: the folder is missing, the previous
    contents are in ``<staging>.old``, the new ones in the staging folder, and no process holds the lock."""
    target = tmp_path / "data"
    lock = tmp_path / f".{target.name}.test-abc123.lock"
    lock.write_text("")
    stem = tmp_path / f".{target.name}.test-abc123"
    stem.mkdir()
    (stem / "stats.json").write_text("new")
    old = tmp_path / f".{target.name}.test-abc123.old"
    old.mkdir()
    (old / "stats.json").write_text("previous")
    durable.clean_stale(target, "test")
    assert (target / "stats.json").read_text() == "previous"
    assert not stem.exists() and not old.exists() and not lock.exists()


def test_a_live_runs_staging_folder_is_not_touched(tmp_path):
    target = tmp_path / "data"
    stage = durable.start_staging(target, "test")  # holds its lock
    try:
        durable.clean_stale(target, "test")
        assert stage.path.is_dir() and os.path.exists(stage.lock.lock_file)
    finally:
        stage.close()
    assert _leftovers(target) == []
