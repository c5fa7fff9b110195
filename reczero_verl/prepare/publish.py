# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Publish the files of one ``prepare`` run as one unit, so an output folder always holds exactly one complete run.

Why: writing ``train.parquet``, ``test.parquet`` and ``stats.json`` one after the other into the output folder means
a run killed half-way (``kill -9``, out of memory, a full disk) leaves the new train file beside the old test file:
test targets that are also train targets, and a ``stats.json`` describing neither. Here a run writes into a staging
folder beside the output folder (same parent, so the same file system) and, once every file is written and synced,
swaps the two folders: with ``renameat2(RENAME_EXCHANGE)`` on Linux (one atomic step), else with two renames (the
folder then briefly does not exist; a run killed in that instant is restored by the next run). The previous run is
then deleted.

A staging folder is held by an ``flock`` on its ``.lock`` file, which the kernel releases when the process dies:
the next run into the same output folder deletes the staging folders whose lock is free (left by a killed run).

The output folder is checked before the pipeline starts: it must be a folder (or not exist yet) under folders, whose
parent is writable, and hold nothing but a previous run's files (a swap would delete anything else).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .sources import PrepareError

try:  # POSIX only; without it stale staging folders are left for the user to delete
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: The files a ``prepare`` run writes; an existing output folder may hold these and nothing else.
RUN_FILES: frozenset[str] = frozenset({"train.parquet", "val.parquet", "test.parquet", "stats.json"})
_LEGACY_SUFFIX = ".parquet.tmp"  # left by a killed run of a version that wrote files in place


def _staging_prefix(target: Path) -> str:
    return f".{target.name}.prepare-"


def check_output_dir(path: Path) -> Path:
    """The absolute output folder when a run can be published there; else :class:`PrepareError` saying why.

    Checked before any work: ``path`` is not a file, no ancestor is a file, and an existing folder holds only a
    previous run's files (the swap replaces the whole folder)."""
    target = Path(os.path.abspath(path))
    if target.is_symlink() and target.is_dir():
        target = target.resolve()
    if target.exists() and not target.is_dir():
        raise PrepareError(f"--output-dir {path} is a file, not a folder: pass a folder path (it is created if needed)")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PrepareError(f"--output-dir {path} is under {parent}, which is a file: pass a folder path")
            break
    if target == Path(target.anchor):
        raise PrepareError(f"--output-dir {path} is the root folder: pass a folder of its own")
    if target.is_dir():
        foreign = sorted(
            e.name for e in target.iterdir() if e.name not in RUN_FILES and not e.name.endswith(_LEGACY_SUFFIX)
        )
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise PrepareError(
                f"--output-dir {path} holds files that are not a prepare run ({shown}); a run replaces the whole "
                "folder: pass an empty or new folder"
            )
        if not os.access(target, os.W_OK | os.X_OK):
            raise PrepareError(f"--output-dir {path} is not writable: pass a folder you can write to")
    _probe_writable(next(p for p in target.parents if p.exists()), path)
    return target


def _probe_writable(folder: Path, option_value: Path) -> None:
    """Create and delete a file in ``folder`` (the nearest existing ancestor of the output folder), where the run
    will be staged: the only test of writability that also holds for root and read-only file systems."""
    try:
        fd, name = tempfile.mkstemp(prefix=".reczero-probe-", dir=folder)
    except OSError as exc:
        raise PrepareError(
            f"--output-dir {option_value}: cannot write in {folder} ({exc.strerror or exc}), where the run is staged "
            "before it replaces the folder: pass a folder whose parent you can write to"
        ) from exc
    os.close(fd)
    os.unlink(name)


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


def _fsync(path: Path) -> None:
    """Flush a file or a folder to disk (a folder's entries make the renames durable)."""
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


def _lock_is_free(lock: Path) -> bool:
    """True when no live process holds ``lock`` (its staging folder was left by a killed run)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases the probe's lock
    return True


def clean_stale(target: Path) -> None:
    """Delete the staging folders of killed runs into ``target``; restore ``target`` when a killed two-rename swap
    left it missing (its previous run is then in ``<staging>.old``)."""
    parent = target.parent
    if not parent.is_dir():
        return
    for lock in sorted(parent.glob(_glob_escape(_staging_prefix(target)) + "*.lock")):
        if not _lock_is_free(lock):
            continue
        stem = lock.with_name(lock.name.removesuffix(".lock"))
        old = stem.with_name(stem.name + ".old")
        if old.is_dir() and not target.exists():
            logger.warning("restoring %s from %s (a run was killed while publishing)", target, old)
            os.rename(old, target)
        for leftover in (stem, old):
            if leftover.is_dir():
                logger.info("removing %s, left by a killed prepare run", leftover)
                shutil.rmtree(leftover, ignore_errors=True)
        lock.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@dataclass
class Staging:
    """A staging folder for one run into ``target``; write the files into :attr:`path`, then :meth:`publish`."""

    target: Path
    path: Path
    lock: Path
    _lock_fd: int | None = field(default=None, repr=False)
    published: bool = False

    def publish(self) -> None:
        """Make the staged files the output folder (atomically where the platform allows), delete the previous run."""
        for entry in self.path.iterdir():
            _fsync(entry)
        _fsync(self.path)
        try:
            if not self.target.exists():
                os.rename(self.path, self.target)
            elif _exchange(self.path, self.target):
                pass  # self.path now holds the previous run
            else:
                old = self.path.with_name(self.path.name + ".old")
                os.rename(self.target, old)
                os.rename(self.path, self.target)
                os.rename(old, self.path)
        except OSError as exc:
            raise PrepareError(
                f"could not publish the run into --output-dir {self.target} ({exc.strerror or exc}); the staged files "
                f"are in {self.path}"
            ) from exc
        _fsync(self.target.parent)
        self.published = True
        logger.info("published %s", self.target)

    def close(self) -> None:
        """Delete the staging folder (the previous run after :meth:`publish`, or an unfinished run) and its lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        shutil.rmtree(self.path.with_name(self.path.name + ".old"), ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.lock.unlink(missing_ok=True)


def start(output_dir: Path) -> Staging:
    """Check ``output_dir``, delete stale staging folders and create this run's (locked) staging folder beside it."""
    target = check_output_dir(output_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(target)
        fd, lock_name = tempfile.mkstemp(prefix=_staging_prefix(target), suffix=".lock", dir=target.parent)
    except OSError as exc:
        raise PrepareError(
            f"--output-dir {output_dir}: cannot write in {target.parent} ({exc.strerror or exc}), where the run is "
            "staged before it replaces the folder: pass a folder whose parent you can write to"
        ) from exc
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    lock = Path(lock_name)
    path = lock.with_name(lock.name.removesuffix(".lock"))
    path.mkdir()
    return Staging(target=target, path=path, lock=lock, _lock_fd=fd)


@contextlib.contextmanager
def staged_output(output_dir: Path) -> Iterator[Staging]:
    """``with staged_output(dir) as stage: ...write into stage.path...; stage.publish()``: on any error, or without
    :meth:`Staging.publish`, the output folder keeps its previous run and the staged files are deleted."""
    stage = start(output_dir)
    try:
        yield stage
    finally:
        if not stage.published:
            logger.info("run not published: %s keeps its previous contents", stage.target)
        stage.close()
