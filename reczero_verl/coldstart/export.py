# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Turning the journal into verl SFT data and a summary.

``sft_train.parquet`` / ``sft_val.parquet`` hold one row per kept trace with a ``messages`` column
(``list<struct<role, content>>``: the training prompt's system and user turns exactly as in ``train.parquet``, then the
teacher's TbR answer as the assistant turn), which ``verl.trainer.sft_trainer`` reads as is with
``data.messages_key=messages``. ``data_source`` and ``extra_info`` (the sample's identity and scale, its truth and
task, ``origin`` = direct or rationalized, the teacher model) ride along for analysis. Files are written to a temporary
name and renamed (:mod:`reczero_verl.durable`), so a reader never sees half a file.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from reczero_verl.coldstart.journal import JournalState
from reczero_verl.coldstart.samples import Sample
from reczero_verl.errors import EXIT_BAD_INPUT, ReczeroError
from reczero_verl.template import format_rating

logger = logging.getLogger(__name__)

__all__ = [
    "KEPT_DIRECT",
    "KEPT_RATIONALIZED",
    "DROPPED",
    "SFT_TRAIN_NAME",
    "SFT_VAL_NAME",
    "STATS_NAME",
    "ExportError",
    "sft_schema",
    "build_sft_rows",
    "split_train_val",
    "sft_table",
    "journal_totals",
]

KEPT_DIRECT = "kept_direct"
KEPT_RATIONALIZED = "kept_rationalized"
DROPPED = "dropped"
SFT_TRAIN_NAME = "sft_train.parquet"
SFT_VAL_NAME = "sft_val.parquet"
STATS_NAME = "stats.json"


class ExportError(ReczeroError, RuntimeError):
    """A journaled trace no longer matches the input (another train.parquet under the same --output-dir); exit code
    2."""

    exit_code = EXIT_BAD_INPUT


def sft_schema() -> Any:
    """The pyarrow schema of the SFT parquet files."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    extra = pa.struct(
        [
            ("index", pa.int64()),
            ("split", pa.string()),
            ("user_id", pa.string()),
            ("item_id", pa.string()),
            ("timestamp", pa.int64()),
            ("rating_min", pa.float64()),
            ("rating_max", pa.float64()),
            ("ground_truth", pa.float64()),
            ("origin", pa.string()),
            ("teacher", pa.string()),
            ("task", pa.string()),
        ]
    )
    return pa.schema([("messages", pa.list_(message)), ("data_source", pa.string()), ("extra_info", extra)])


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return int(value)


def build_sft_rows(state: JournalState, samples: Mapping[int, Sample]) -> list[dict[str, Any]]:
    """One SFT row per kept trace in the journal, in index order.

    Each final record carries the digest of the prompt it was produced for; a kept trace whose sample is absent
    from, or different in, the current input raises :class:`ExportError` (it would pair an answer with another
    prompt).
    """
    rows = []
    for index in sorted(state.finals):
        record = state.finals[index]
        if record.get("outcome") not in (KEPT_DIRECT, KEPT_RATIONALIZED):
            continue
        sample = samples.get(index)
        if sample is None:
            raise ExportError(f"journaled sample {index} is not in the input parquet; use the input it was made from")
        if sample.digest != record.get("prompt_sha1"):
            raise ExportError(f"the prompt of sample {index} differs from the one the teacher answered")
        extra = sample.extra_info
        rows.append(
            {
                "messages": [*sample.messages, {"role": "assistant", "content": record["assistant"]}],
                "data_source": sample.data_source,
                "extra_info": {
                    "index": index,
                    "split": None,
                    "user_id": _opt_str(extra.get("user_id")),
                    "item_id": _opt_str(extra.get("item_id")),
                    "timestamp": _opt_int(extra.get("timestamp")),
                    "rating_min": sample.rating_min,
                    "rating_max": sample.rating_max,
                    "ground_truth": sample.truth,
                    "origin": "direct" if record["outcome"] == KEPT_DIRECT else "rationalized",
                    "teacher": _opt_str(record.get("teacher")),
                    "task": sample.task,
                },
            }
        )
    return rows


def split_train_val(
    rows: Sequence[dict[str, Any]], val_ratio: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Seeded split: ``round(val_ratio * n)`` rows go to validation (at least one when ``val_ratio > 0`` and
    ``n >= 2``, never all); both parts keep index order and get ``extra_info.split`` = train / val."""
    import numpy as np

    n = len(rows)
    n_val = int(round(val_ratio * n)) if val_ratio > 0 else 0
    if val_ratio > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    elif n < 2:
        n_val = 0
    chosen = set(np.random.default_rng(seed).permutation(n)[:n_val].tolist())
    train, val = [], []
    for pos, row in enumerate(rows):
        split = "val" if pos in chosen else "train"
        row = {**row, "extra_info": {**row["extra_info"], "split": split}}
        (val if split == "val" else train).append(row)
    return train, val


def sft_table(rows: Sequence[dict[str, Any]]) -> Any:
    """``rows`` as a pyarrow table with :func:`sft_schema`."""
    import pyarrow as pa

    return pa.Table.from_pylist(list(rows), schema=sft_schema())


def journal_totals(state: JournalState) -> dict[str, Any]:
    """Cumulative figures over every run recorded in the journal (outcomes, requests, retries, tokens).

    ``requests``, ``retries`` and the token counts cover every request, teacher and judge; the ``judge_*`` figures
    break out the leak judge's: calls (one per trace asked about), HTTP requests, failures (calls that gave no
    verdict: their samples stayed pending), unparseable answers (each one retried) and verdicts. ``dropped_as_leak``
    counts every trace dropped as a leak, ``dropped_as_leak_by`` splits it between the lexical rules and the judge,
    and ``dropped_leaks_by_rule`` by the rule that fired (``llm_judge`` for the judge).
    """
    outcomes = Counter(r.get("outcome") for r in state.finals.values())
    dropped = Counter(r.get("reason") or "unknown" for r in state.finals.values() if r.get("outcome") == DROPPED)
    leak_finals = [r for r in state.finals.values() if r.get("outcome") == DROPPED and r.get("reason") == "leak"]
    leaks = Counter(r.get("leak_rule") or "unknown" for r in leak_finals)
    # Journals written before the judge existed have no leak_by: their leaks were all found by the lexical rules.
    leaks_by = Counter(r.get("leak_by") or "lexical" for r in leak_finals)
    judge_attempts = [a for a in state.attempts if a.get("stage") == "judge"]
    verdicts = Counter(a.get("verdict") for a in judge_attempts if a.get("status") == "ok")
    kept = [r for r in state.finals.values() if r.get("outcome") in (KEPT_DIRECT, KEPT_RATIONALIZED)]
    kept_by_rating = Counter(format_rating(r["rating"]) for r in kept if r.get("rating") is not None)
    kept_by_task = Counter(r.get("task") or "rating" for r in kept)
    attempts = state.attempts
    return {
        "samples_finished": len(state.finals),
        "kept_direct": outcomes.get(KEPT_DIRECT, 0),
        "kept_rationalized": outcomes.get(KEPT_RATIONALIZED, 0),
        "dropped": outcomes.get(DROPPED, 0),
        "dropped_by_reason": dict(sorted(dropped.items())),
        "dropped_as_leak": dropped.get("leak", 0),
        "dropped_as_leak_by": {"lexical": leaks_by.get("lexical", 0), "judge": leaks_by.get("judge", 0)},
        "dropped_leaks_by_rule": dict(sorted(leaks.items())),
        "judge_calls": len(judge_attempts),
        "judge_requests": sum(int(a.get("requests") or 0) for a in judge_attempts),
        "judge_failures": sum(1 for a in judge_attempts if a.get("status") != "ok"),
        "judge_unparseable": sum(int(a.get("unparseable") or 0) for a in judge_attempts),
        "judge_verdicts": dict(sorted(verdicts.items())),
        "rejected_to_retry": sum(1 for index in state.finals if state.retryable(index)),
        "kept_by_rating": dict(sorted(kept_by_rating.items(), key=lambda kv: float(kv[0]))),
        "kept_by_task": dict(sorted(kept_by_task.items())),
        "attempts": len(attempts),
        "attempts_direct": sum(1 for a in attempts if a.get("stage") == "direct"),
        "attempts_rationalize": sum(1 for a in attempts if a.get("stage") == "rationalize"),
        "failed_attempts": sum(1 for a in attempts if a.get("status") != "ok"),
        "requests": sum(int(a.get("requests") or 0) for a in attempts),
        "retries": sum(int(a.get("retries") or 0) for a in attempts),
        "tokens_in": sum(int(a.get("prompt_tokens") or 0) for a in attempts),
        "tokens_out": sum(int(a.get("completion_tokens") or 0) for a in attempts),
        "reasoning_tokens": sum(int(a.get("reasoning_tokens") or 0) for a in attempts),
        "thinking_chars_removed": sum(int(a.get("thinking_chars") or 0) for a in attempts),
        "duplicate_final_records": state.duplicates,
        "runs": len(state.runs),
    }
