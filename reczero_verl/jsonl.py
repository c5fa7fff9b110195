# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Append-only JSON-lines files that survive a kill: the resumable outputs of ``coldstart`` and ``generate``.

Each record is one line, written whole and flushed + fsync'd before the caller goes on, so an interrupted run loses at
most the record being written. On reopening, a partial last line (a write cut by a kill) is cut off, so the next
record starts on its own line. An exclusive lock keeps two runs from appending to the same file at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

logger = logging.getLogger(__name__)

__all__ = ["repair_tail", "exclusive_lock", "DurableAppender"]


def repair_tail(path: str | Path) -> int:
    """Cut a partial last line from ``path`` (if any) and return how many bytes were dropped."""
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, "rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        logger.warning(
            "%s: dropping an incomplete last record (%d bytes) of an interrupted run", path, len(data) - keep
        )
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return len(data) - keep


@contextmanager
def exclusive_lock(lock_path: str | Path, busy_error: Exception) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``lock_path``; raise ``busy_error`` when another process holds it."""
    import fcntl

    with open(lock_path, "w") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise busy_error from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class DurableAppender:
    """``with DurableAppender(path) as out: out.append(line)``: repairs the tail, then appends durable lines."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: TextIO | None = None

    def __enter__(self) -> DurableAppender:
        repair_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def append(self, line: str) -> None:
        """Write ``line`` (one serialised record, without its newline) and make it durable before returning."""
        if self._fh is None:
            raise RuntimeError(f"{type(self).__name__} must be used inside 'with'")
        if "\n" in line:
            raise ValueError("a JSON-lines record must not contain a newline")
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
