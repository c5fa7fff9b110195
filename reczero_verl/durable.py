# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Durable file writing, one way for every command: what a kill, a full disk or a second run must never corrupt.

- **JSON lines** (the resumable outputs of ``coldstart`` and ``generate``): :class:`DurableAppender` writes each record
  whole, flushed and fsync'd, and cuts a partial last line left by a kill (:func:`repair_tail`).
- **Single files** (SFT parquet, ``stats.json``, settings): :func:`write_json_atomic`, :func:`write_parquet_atomic`
  write a temporary file beside the target, fsync it and rename it over the target, so a reader sees the old file or
  the new one, never half of one.
- **Folders of files that belong together** (a ``prepare`` run, an evaluation report): :func:`staged_folder` stages
  them beside the target folder and swaps the folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two
  renames, repaired by the next run if a kill lands between them).
- **Locks** (:func:`exclusive_lock`, through ``filelock``): two runs never write the same output at once; the kernel
  releases a killed run's lock, which is how its leftovers are recognised.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from filelock import FileLock, Timeout

logger = logging.getLogger(__name__)

__all__ = [
    "DurableAppender",
    "StagedFolder",
    "exclusive_lock",
    "fsync_path",
    "repair_tail",
    "staged_folder",
    "write_json_atomic",
    "write_parquet_atomic",
]


# ---- JSON lines ----------------------------------------------------------------------------------------------------


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


# ---- locks ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def exclusive_lock(lock_path: str | Path, busy_error: Exception) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` without waiting; raise ``busy_error`` when another process holds it."""
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise busy_error from None
    try:
        yield
    finally:
        lock.release()


def _lock_is_free(lock_path: Path) -> bool:
    """True when no live process holds ``lock_path`` (whatever it guarded was left by a killed run)."""
    if not lock_path.exists():
        return False
    probe = FileLock(lock_path, timeout=0)
    try:
        probe.acquire()
    except (Timeout, OSError):
        return False
    probe.release()
    return True


# ---- single files --------------------------------------------------------------------------------------------------


def fsync_path(path: Path) -> None:
    """Flush a file or a folder to disk (a folder's entries make renames durable); a no-op where unsupported."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() and hasattr(os, "O_DIRECTORY") else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it and rename it over ``path``."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path


def write_json_atomic(
    data: Mapping[str, Any], path: str | Path, *, ensure_ascii: bool = False, allow_nan: bool = False
) -> Path:
    """Write ``data`` as indented JSON to ``path``, atomically (by default UTF-8, and no NaN: strict readers refuse
    it)."""
    text = json.dumps(data, indent=2, ensure_ascii=ensure_ascii, allow_nan=allow_nan) + "\n"
    return _write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_parquet_atomic(table: Any, path: str | Path) -> Path:
    """Write the pyarrow ``table`` to ``path`` as parquet, atomically."""
    import pyarrow.parquet as pq

    return _write_atomic(path, lambda tmp: pq.write_table(table, tmp))


# ---- folders -------------------------------------------------------------------------------------------------------


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux's ``renameat2(RENAME_EXCHANGE)``; ``False`` where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _staging_prefix(target: Path, kind: str) -> str:
    return f".{target.name}.{kind}-"


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def clean_stale(target: Path, kind: str) -> None:
    """Delete the staging folders of killed runs into ``target``; restore ``target`` when a killed two-rename swap
    left it missing (its previous contents are then in ``<staging>.old``)."""
    parent = target.parent
    if not parent.is_dir():
        return
    for lock in sorted(parent.glob(_glob_escape(_staging_prefix(target, kind)) + "*.lock")):
        if not _lock_is_free(lock):
            continue
        stem = lock.with_name(lock.name.removesuffix(".lock"))
        old = stem.with_name(stem.name + ".old")
        if old.is_dir() and not target.exists():
            logger.warning("restoring %s from %s (a run was killed while publishing)", target, old)
            os.rename(old, target)
        for leftover in (stem, old):
            if leftover.is_dir():
                logger.info("removing %s, left by a killed run", leftover)
                shutil.rmtree(leftover, ignore_errors=True)
        lock.unlink(missing_ok=True)


@dataclass
class StagedFolder:
    """A locked staging folder for ``target``: write the files into :attr:`path`, then :meth:`publish`."""

    target: Path
    path: Path
    lock: FileLock
    published: bool = False

    def publish(self) -> None:
        """Make the staged files the target folder (atomically where the platform allows); the previous contents
        end up in :attr:`path` and are deleted by :meth:`close`. Raises ``OSError`` when a rename fails."""
        for entry in self.path.iterdir():
            fsync_path(entry)
        fsync_path(self.path)
        if not self.target.exists():
            os.rename(self.path, self.target)
        elif not _exchange(self.path, self.target):
            old = self.path.with_name(self.path.name + ".old")
            os.rename(self.target, old)
            os.rename(self.path, self.target)
            os.rename(old, self.path)
        fsync_path(self.target.parent)
        self.published = True
        logger.info("published %s", self.target)

    def close(self) -> None:
        """Delete the staging folder (the previous contents after :meth:`publish`, or an unfinished run), release and
        delete the lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        shutil.rmtree(self.path.with_name(self.path.name + ".old"), ignore_errors=True)
        lock_file = Path(self.lock.lock_file)
        self.lock.release()
        lock_file.unlink(missing_ok=True)


def start_staging(target: Path, kind: str) -> StagedFolder:
    """Delete stale staging folders of ``target`` and create this run's locked staging folder beside it (same file
    system, so a rename swaps it in). Raises ``OSError`` when the parent folder cannot be written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target, kind)
    fd, lock_name = tempfile.mkstemp(prefix=_staging_prefix(target, kind), suffix=".lock", dir=target.parent)
    os.close(fd)
    lock = FileLock(lock_name, timeout=0)
    lock.acquire()
    path = Path(lock_name).with_name(Path(lock_name).name.removesuffix(".lock"))
    path.mkdir()
    return StagedFolder(target=target, path=path, lock=lock)


@contextlib.contextmanager
def staged_folder(target: Path, kind: str) -> Iterator[StagedFolder]:
    """``with staged_folder(dir, "report") as stage: ...write into stage.path...; stage.publish()``.

    Without :meth:`StagedFolder.publish` (an error in the block, or no call), ``target`` keeps its previous contents
    and the staged files are deleted. ``kind`` names the staging folders (``.<target>.<kind>-*``). Raises ``OSError``
    when the parent folder cannot be written."""
    stage = start_staging(target, kind)
    try:
        yield stage
    finally:
        if not stage.published:
            logger.info("run not published: %s keeps its previous contents", target)
        stage.close()
