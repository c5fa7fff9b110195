# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Checks of the inputs and options of ``reczero-verl prepare`` that turn bad input into one clear error line.

Why here and not where it fails: a missing column, a file that is gzip in name only or a nonsense ``--memory-limit``
used to surface as a DuckDB or zlib traceback somewhere inside the pipeline, possibly after minutes of work. These
checks run before the pipeline (or, for the full gzip integrity check, beside it in a thread) and raise
:class:`~reczero_verl.prepare.schema.PrepareError` naming the file or option and the fix; the command line maps it to
exit code 2. :func:`input_error` translates the DuckDB errors that only a full scan can meet (a gzip stream that ends
early) the same way. :func:`fingerprint` identifies an input in ``stats.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .schema import PrepareError
from .sql import GLOB_CHARS

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
#: Files up to this size are hashed whole in their fingerprint; larger ones by their first and last MiB.
FULL_HASH_BYTES = 64 * 1024 * 1024
_MIB = 1024 * 1024

#: Errors of Python's gzip/zlib on a damaged or mislabelled file.
GZIP_ERRORS = (OSError, EOFError, zlib.error)


def check_input_file(path: str | Path, option: str) -> Path:
    """``path`` as a Path when it is a readable file whose compression matches its name; else :class:`PrepareError`.

    A path is read literally: ``*``, ``?`` and ``[`` are file-name characters, never a pattern."""
    p = Path(path)
    if not p.exists():
        hint = ""
        if any(c in str(p) for c in GLOB_CHARS):
            hint = " (paths are read literally, wildcards are not expanded: pass one file, e.g. concatenate the files)"
        raise PrepareError(f"{option} file not found: {p}{hint}")
    if not p.is_file():
        raise PrepareError(f"{option} {p} is not a file (a folder?): pass the path of one file")
    try:
        with open(p, "rb") as f:
            head = f.read(2)
    except OSError as exc:
        raise PrepareError(f"{option} {p} cannot be read ({exc.strerror}): check its permissions") from exc
    if p.suffix == ".gz" and head and head != GZIP_MAGIC:
        raise PrepareError(
            f"{option} {p} is named .gz but is not gzip-compressed: rename it without .gz (or compress it with gzip)"
        )
    if p.suffix != ".gz" and head == GZIP_MAGIC:
        raise PrepareError(f"{option} {p} is gzip-compressed but not named .gz: rename it to {p.name}.gz")
    return p


def gzip_problem(path: Path, stop: threading.Event | None = None) -> str | None:
    """Why the gzip file ``path`` cannot be read to its end (truncated, corrupt, bad checksum), or ``None`` (also
    when ``stop`` is set before the end).

    Decompresses the whole file and discards the output (zlib releases the GIL, so this runs beside DuckDB)."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(4 * _MIB):
                if stop is not None and stop.is_set():
                    return None
    except GZIP_ERRORS as exc:
        return str(exc) or type(exc).__name__
    return None


def gzip_error(path: Path, reason: str) -> PrepareError:
    """The error for a damaged gzip input."""
    return PrepareError(
        f"{path}: the gzip data is truncated or corrupt ({reason}): download or compress the file again "
        f"('gzip -t {path.name}' checks it)"
    )


class GzipCheck:
    """Checks the ``.gz`` inputs to their end in a background thread while the pipeline runs.

    Needed because DuckDB stops silently at some corrupt deflate blocks (a read that loses the rest of the file
    without an error). :meth:`raise_if_bad` joins the thread and raises for the first damaged file. Use it as a
    context manager: leaving it early (the run failed) stops the thread at its next chunk."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = [p for p in paths if p.suffix == ".gz"]
        self._problems: dict[Path, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reczero-gzip-check", daemon=True)

    def __enter__(self) -> GzipCheck:
        if self._paths:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        for path in self._paths:
            problem = gzip_problem(path, self._stop)
            if problem is not None:
                self._problems[path] = problem

    def raise_if_bad(self) -> None:
        if self._thread.ident is not None:  # started
            self._thread.join()
        for path in self._paths:
            if path in self._problems:
                raise gzip_error(path, self._problems[path])


def fingerprint(path: Path) -> dict[str, Any]:
    """What identifies an input file in ``stats.json``: size, modification time and a SHA-256 (of the whole file up
    to :data:`FULL_HASH_BYTES`, else of its first and last MiB)."""
    st = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if st.st_size <= FULL_HASH_BYTES:
            for chunk in iter(lambda: f.read(4 * _MIB), b""):
                digest.update(chunk)
            hashed = "whole file"
        else:
            digest.update(f.read(_MIB))
            f.seek(max(0, st.st_size - _MIB))
            digest.update(f.read(_MIB))
            hashed = "first and last MiB"
    return {
        "path": str(path),
        "size": int(st.st_size),
        "mtime_ns": int(st.st_mtime_ns),
        "sha256": digest.hexdigest(),
        "hashed": hashed,
    }


def check_memory_limit(value: str) -> str:
    """``value`` when DuckDB accepts it as a memory limit (``3GB``, ``512MB``, ``80%``), else :class:`PrepareError`."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit='{value.replace(chr(39), chr(39) * 2)}'")
    except duckdb.Error as exc:
        raise PrepareError(
            f"--memory-limit {value!r} is not a memory size DuckDB understands: use e.g. 3GB, 512MB or 80%"
        ) from exc
    finally:
        con.close()
    return value


def check_temp_dir(path: Path | None) -> Path | None:
    """``path`` when it is an existing folder this process can write to (``None``: the system default)."""
    if path is None:
        return None
    if not path.exists():
        raise PrepareError(f"--temp-dir {path} does not exist: create it or leave the option out")
    if not path.is_dir():
        raise PrepareError(f"--temp-dir {path} is not a folder: pass a folder where DuckDB may spill to disk")
    if not os.access(path, os.W_OK | os.X_OK):
        raise PrepareError(f"--temp-dir {path} is not writable: pass a folder you can write to")
    return path


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def input_error(exc: Exception, inputs: Mapping[str, Path], memory_limit: str) -> PrepareError | None:
    """A :class:`PrepareError` for a DuckDB error caused by an input file or an option, or ``None`` for any other
    error (a bug: it keeps its traceback). ``inputs`` maps option names (``--reviews``) to files."""
    import duckdb

    message = _first_line(exc)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return PrepareError(
            f"DuckDB ran out of memory under --memory-limit {memory_limit} ({message}): raise --memory-limit or "
            "point --temp-dir at a disk with free space"
        )
    if not isinstance(exc, (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)):
        return None
    if "No space left" in message or "temporary" in message.lower():
        return PrepareError(f"DuckDB could not spill to disk ({message}): point --temp-dir at a disk with free space")
    if not inputs:
        return PrepareError(f"cannot read the input ({message})")
    named = [(opt, p) for opt, p in inputs.items() if str(p) in str(exc) or p.name in str(exc)]
    option, path = named[0] if named else next(iter(inputs.items()))
    if "GZIP" in message.upper():
        return gzip_error(path, message)
    return PrepareError(f"{option} {path} cannot be read ({message}): check the file and its format")
