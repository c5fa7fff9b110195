# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Publish the files of one ``prepare`` run as one unit, so an output folder always holds exactly one complete run.

Why: writing ``train.parquet``, ``test.parquet`` and ``stats.json`` one after the other into the output folder means
a run killed half-way (``kill -9``, out of memory, a full disk) leaves the new train file beside the old test file:
test targets that are also train targets, and a ``stats.json`` describing neither. A run is therefore written into a
staging folder and swapped in whole (:func:`reczero_verl.durable.staged_folder`, which says how).

The output folder is checked before the pipeline starts: it must be a folder (or not exist yet) under folders, whose
parent is writable, and hold nothing but a previous run's files (a swap would delete anything else).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reczero_verl import durable
from reczero_verl.durable import StagedFolder

from .schema import PrepareError

logger = logging.getLogger(__name__)

#: The files a ``prepare`` run writes; an existing output folder may hold these and nothing else.
RUN_FILES: frozenset[str] = frozenset({"train.parquet", "val.parquet", "test.parquet", "stats.json"})
_LEGACY_SUFFIX = ".parquet.tmp"  # left by a killed run of a version that wrote files in place


#: Staging folders of a run into ``DIR`` are ``.DIR.prepare-*`` (see :func:`reczero_verl.durable.staged_folder`).
STAGING_KIND = "prepare"


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


@contextlib.contextmanager
def staged_output(output_dir: Path) -> Iterator[_Publishing]:
    """``with staged_output(dir) as stage: ...write into stage.path...; stage.publish()``: on any error, or without
    :meth:`~reczero_verl.durable.StagedFolder.publish`, the output folder keeps its previous run and the staged files
    are deleted. Failures to stage or to publish are :class:`PrepareError` naming ``--output-dir``."""
    target = check_output_dir(output_dir)
    try:
        stage = durable.start_staging(target, STAGING_KIND)
    except OSError as exc:
        raise PrepareError(
            f"--output-dir {output_dir}: cannot write in {target.parent} ({exc.strerror or exc}), where the run is "
            "staged before it replaces the folder: pass a folder whose parent you can write to"
        ) from exc
    try:
        yield _Publishing(stage)
    finally:
        if not stage.published:
            logger.info("run not published: %s keeps its previous contents", target)
        stage.close()


@dataclass
class _Publishing:
    """A :class:`~reczero_verl.durable.StagedFolder` whose :meth:`publish` failure names ``--output-dir``."""

    stage: StagedFolder

    @property
    def path(self) -> Path:
        return self.stage.path

    def publish(self) -> None:
        try:
            self.stage.publish()
        except OSError as exc:
            raise PrepareError(
                f"could not publish the run into --output-dir {self.stage.target} ({exc.strerror or exc}); the staged "
                f"files are in {self.stage.path}"
            ) from exc
