# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Reading the training prompts and choosing which ones go to the teacher.

The input is a ``train.parquet`` written by ``reczero-verl prepare`` (the project's sample contract): each row has the
chat ``prompt`` GRPO trains on, ``reward_model.ground_truth``, ``extra_info`` (``index`` unique in the file, the rating
scale; ``task``, ``candidates`` and ``like_threshold`` for ranking and like rows) and ``data_source``. Only those four
columns are read (the structured history columns are already rendered in the prompt), in two passes so a large file
never sits in memory as Python objects: :func:`read_meta` reads the small columns of every row (enough to choose),
:func:`attach_prompts` then reads the prompts of the chosen rows only, batch by batch. A sample is identified by
``extra_info.index`` everywhere in the cold start (journal, resume, SFT rows).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reczero_verl.coldstart.traces import round_half_up
from reczero_verl.contract import TASKS, prompt_messages, row_truth
from reczero_verl.errors import BadInputError

logger = logging.getLogger(__name__)

__all__ = [
    "Sample",
    "InputError",
    "prompt_digest",
    "read_meta",
    "attach_prompts",
    "load_samples",
    "stratified_order",
]

_META_COLUMNS = ("reward_model", "extra_info", "data_source")
_COLUMNS = ("prompt", *_META_COLUMNS)


class InputError(BadInputError):
    """The input parquet cannot be used (missing file or column, not parquet, duplicate index, malformed rows under
    --strict); the command exits with code 2 and this one-line message."""


_PREPARED_HINT = "pass the train.parquet written by `reczero-verl prepare`"


def _arrow_problem(path: Path, err: BaseException) -> InputError:
    """One-line :class:`InputError` for a file pyarrow cannot read as parquet."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return InputError(f"--input {path} is not a parquet file ({first}); {_PREPARED_HINT}")


@dataclass(frozen=True)
class Sample:
    """One training prompt with its truth, as sent to the teacher and written to the SFT data."""

    index: int
    row: int  #: position in the input file
    messages: list[dict[str, str]]
    truth: float
    rating_min: float
    rating_max: float
    data_source: str
    extra_info: dict[str, Any] = field(default_factory=dict)
    task: str = "rating"  #: ``rating``, ``ranking`` (truth: the target's candidate number) or ``like`` (truth: 0/1)
    n_candidates: int | None = None  #: the number of candidates of a ranking sample
    like_threshold: float | None = None  #: the like threshold of a like sample of explicit ratings

    @property
    def digest(self) -> str:
        """Fingerprint of the prompt (see :func:`prompt_digest`)."""
        return prompt_digest(self.messages)


def prompt_digest(messages: Sequence[Mapping[str, str]]) -> str:
    """SHA-1 of the messages' roles and contents: a resumed run checks that a sample's prompt did not change."""
    canonical = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


def _row_to_meta(row: Mapping[str, Any], position: int) -> Sample:
    """A sample without its messages (filled by :func:`attach_prompts`)."""
    extra = row.get("extra_info")
    if not isinstance(extra, Mapping):
        raise ValueError("extra_info is missing")
    index = extra.get("index")
    if index is None or isinstance(index, bool) or not float(index).is_integer():
        raise ValueError(f"extra_info.index is not an integer: {index!r}")
    reward_model = row.get("reward_model")
    if not isinstance(reward_model, Mapping):
        raise ValueError("reward_model is missing")
    t = row_truth(reward_model.get("ground_truth"), extra)
    return Sample(
        index=int(index),
        row=position,
        messages=[],
        truth=t.truth,
        rating_min=t.rating_min,
        rating_max=t.rating_max,
        data_source=str(row.get("data_source") or ""),
        extra_info=dict(extra),
        task=t.task,
        n_candidates=t.n_candidates,
        like_threshold=t.like_threshold,
    )


def _check_file(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise InputError(f"--input {path}: no such file; {_PREPARED_HINT}")
    if not path.is_file():
        raise InputError(f"--input {path} is a folder, not a parquet file; {_PREPARED_HINT}")
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as err:
        raise _arrow_problem(path, err) from None
    missing = [c for c in _COLUMNS if c not in names]
    if missing:
        raise InputError(f"--input {path} lacks the column(s) {missing}; {_PREPARED_HINT}")


def _problem(problems: list[str], strict: bool, path: Path, position: int, exc: Exception) -> None:
    problem = f"{path} row {position}: {exc}"
    if strict:
        raise InputError(problem) from None
    problems.append(problem)


def read_meta(path: str | Path, *, strict: bool = False) -> tuple[list[Sample], list[str]]:
    """Read every row's index, truth, scale and source (no prompts); return ``(samples, problems)``.

    ``problems`` lists each malformed row as ``"<file> row <n>: <what>"``; such rows are left out (and reported by the
    caller), or raise :class:`InputError` under ``strict``. A missing column or a duplicate ``extra_info.index``
    always raises: the index is the sample's identity for resuming.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    _check_file(path)
    try:
        rows = pq.read_table(path, columns=list(_META_COLUMNS)).to_pylist()
    except (OSError, pa.ArrowException) as err:
        raise _arrow_problem(path, err) from None
    samples: list[Sample] = []
    problems: list[str] = []
    seen: dict[int, int] = {}
    for position, row in enumerate(rows):
        try:
            sample = _row_to_meta(row, position)
        except (ValueError, TypeError) as exc:
            _problem(problems, strict, path, position, exc)
            continue
        if sample.index in seen:
            raise InputError(f"{path} row {position}: extra_info.index {sample.index} repeats row {seen[sample.index]}")
        seen[sample.index] = position
        samples.append(sample)
    return samples, problems


def attach_prompts(
    path: str | Path, samples: Sequence[Sample], *, strict: bool = False
) -> tuple[list[Sample], list[str]]:
    """Return ``samples`` (same order) with their ``prompt`` messages read from ``path``, and the problems found.

    Reads the prompt column batch by batch and converts only the wanted rows. A malformed prompt is reported like a
    malformed row in :func:`read_meta` (left out, or :class:`InputError` under ``strict``).
    """
    import pyarrow as pa

    path = Path(path)
    wanted = {s.row for s in samples}
    messages: dict[int, list[dict[str, str]]] = {}
    problems: list[str] = []
    offset = 0
    try:
        for batch in _prompt_batches(path):
            hits = [p - offset for p in range(offset, offset + batch.num_rows) if p in wanted]
            if hits:
                column = batch.column(0).take(hits).to_pylist()
                for local, value in zip(hits, column, strict=True):
                    try:
                        messages[offset + local] = prompt_messages(value)
                    except (ValueError, TypeError) as exc:
                        _problem(problems, strict, path, offset + local, exc)
            offset += batch.num_rows
    except (OSError, pa.ArrowException) as err:
        raise _arrow_problem(path, err) from None
    out = [replace(s, messages=messages[s.row]) for s in samples if s.row in messages]
    return out, problems


def _prompt_batches(path: Path) -> Any:
    """The ``prompt`` column of ``path`` in record batches."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).iter_batches(columns=["prompt"], batch_size=4096)


def load_samples(path: str | Path, *, strict: bool = False) -> tuple[list[Sample], list[str]]:
    """Every well-formed sample of ``path`` with its prompt (small files and tests); see :func:`read_meta`."""
    metas, problems = read_meta(path, strict=strict)
    samples, more = attach_prompts(path, metas, strict=strict)
    return samples, problems + more


def stratified_order(samples: Sequence[Sample], seed: int) -> list[int]:
    """A seeded order of ``samples`` (positions) that takes rating values in turn.

    Samples are grouped by their task and rounded truth (the rating; the target's candidate number for ranking, so
    the kept traces do not favour a position; the label for like); each group is shuffled with ``seed``, then the
    groups are read round-robin (in task order, lowest truth first, in each round) until all are exhausted. Any prefix
    of this order is as balanced over rating values as the data allows, so ``--max-samples N`` takes the first N and
    rare ratings are present; raising N on a later run extends the same selection instead of drawing a new one.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for pos, sample in enumerate(samples):
        if not math.isfinite(sample.truth):
            continue
        groups[(TASKS.index(sample.task), round_half_up(sample.truth))].append(pos)
    shuffled = []
    for key in sorted(groups):
        members = groups[key]
        shuffled.append([members[i] for i in rng.permutation(len(members))])
    order: list[int] = []
    depth = max((len(g) for g in shuffled), default=0)
    for r in range(depth):
        for group in shuffled:
            if r < len(group):
                order.append(group[r])
    return order
