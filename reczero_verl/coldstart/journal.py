# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The append-only audit journal ``DIR/coldstart.jsonl``: the single source of truth of a cold-start run.

Every line is one JSON record, written whole, flushed and fsync'd before the run goes on, so a crash or a kill loses at
most the requests in flight. Three record types:

* ``run``: one per invocation (settings, never the API key);
* ``attempt``: one per request that ended: stage ``direct`` or ``rationalize`` for the teacher (the cleaned answer,
  its verdict, token usage, how much hidden thinking was removed; or the error when the request failed), stage
  ``judge`` for the blind leak judge (its verdict ``leak`` / ``honest``, the prompt version and model; or the error);
* ``sample``: one per sample whose final outcome is known (``kept_direct``, ``kept_rationalized`` or ``dropped`` with a
  reason). A sample with a ``sample`` record is never sent again, except one dropped because the endpoint rejected
  the request (reason ``rejected``, see :data:`RETRYABLE_REASONS`): an endpoint that rejects every request (a wrong
  parameter, say) must not finish samples for good, so the next run sends it again and a later final record replaces
  it. A sample without one is redone on the next run, reusing what is journaled: its direct answer, its
  rationalized answer, and the judge's verdict on that answer (a judge that failed or answered garbage leaves the
  sample without a final record, and the next run asks the judge only).

The SFT parquet files and ``stats.json`` are derived from this file at the end of each run.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reczero_verl.durable import DurableAppender
from reczero_verl.durable import exclusive_lock as _exclusive_lock
from reczero_verl.errors import EXIT_BAD_INPUT, ReczeroError

logger = logging.getLogger(__name__)

__all__ = [
    "JOURNAL_NAME",
    "RETRYABLE_REASONS",
    "JournalError",
    "JournalState",
    "Journal",
    "read_journal",
    "exclusive_lock",
    "to_json",
]

JOURNAL_NAME = "coldstart.jsonl"
#: Reasons of a ``dropped`` final record that the next run retries (they say nothing about the sample itself).
RETRYABLE_REASONS = frozenset({"rejected"})
_LOCK_NAME = ".coldstart.lock"


class JournalError(ReczeroError, RuntimeError):
    """The journal cannot be used: a corrupt line, or another run holds the output folder (exit code 2)."""

    exit_code = EXIT_BAD_INPUT


def to_json(record: Mapping[str, Any]) -> str:
    """One JSON line; non-finite floats become null (JSON has no NaN)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(record), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@dataclass
class JournalState:
    """What a journal says so far."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    #: index -> final ``sample`` record (the first one wins, unless it is retryable: then a later one replaces it;
    #: other later records are counted in ``duplicates``)
    finals: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: index -> latest successful ``direct`` attempt of a sample without a final record, or with a retryable one
    pending_direct: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: index -> latest successful ``rationalize`` attempt of such a sample
    pending_rationalized: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: index -> the judge's verdict (a successful ``judge`` attempt) on that rationalized answer
    pending_verdicts: dict[int, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    truncated_tail: bool = False

    def retryable(self, index: int) -> bool:
        """True when sample ``index`` has a final record that the next run retries (see :data:`RETRYABLE_REASONS`)."""
        return _is_retryable(self.finals.get(index))

    def open(self, index: int) -> bool:
        """True when sample ``index`` must be (re)sent: no final record yet, or a retryable one."""
        return index not in self.finals or self.retryable(index)


def _is_retryable(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("outcome") == "dropped" and record.get("reason") in RETRYABLE_REASONS


def read_journal(path: str | Path) -> JournalState:
    """Parse a journal. A last line without its newline is an interrupted write and is ignored; any other
    unreadable line raises :class:`JournalError` naming it (the file was edited by hand)."""
    path = Path(path)
    state = JournalState()
    if not path.exists():
        return state
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    # The text after the last "\n" is empty for a clean file and a partial record after a kill.
    if lines and lines[-1] != "":
        state.truncated_tail = True
    for lineno, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record["type"]
            if kind in ("attempt", "sample"):
                record["index"] = int(record["index"])
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalError(
                f"{path} line {lineno} is not a journal record ({exc}); fix or remove the line"
            ) from None
        if kind == "run":
            state.runs.append(record)
        elif kind == "attempt":
            state.attempts.append(record)
        elif kind == "sample":
            index = record["index"]
            if index in state.finals and not _is_retryable(state.finals[index]):
                state.duplicates += 1
            else:
                state.finals[index] = record
        else:
            raise JournalError(f"{path} line {lineno} has an unknown record type {kind!r}")
    _collect_pending(state)
    return state


def _collect_pending(state: JournalState) -> None:
    """Fill the ``pending_*`` maps: what an open sample already has, in journal order (a verdict belongs to the
    rationalized answer before it)."""
    for record in state.attempts:
        index = record["index"]
        if record.get("status") != "ok" or not state.open(index):
            continue
        stage = record.get("stage")
        if stage == "direct":
            state.pending_direct[index] = record
        elif stage == "rationalize":
            state.pending_rationalized[index] = record
            state.pending_verdicts.pop(index, None)
        elif stage == "judge" and index in state.pending_rationalized:
            state.pending_verdicts[index] = record


class Journal(DurableAppender):
    """Appends records durably; open with ``with Journal(path) as journal``."""

    def append(self, record: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Write one record and make it durable (flush + fsync) before returning."""
        super().append(to_json(record))


def exclusive_lock(out_dir: str | Path) -> AbstractContextManager[None]:
    """Hold an exclusive lock on ``out_dir`` so two runs never append to the same journal at once."""
    busy = JournalError(f"another coldstart run is using {out_dir}; wait for it or choose another --output-dir")
    return _exclusive_lock(Path(out_dir) / _LOCK_NAME, busy)
