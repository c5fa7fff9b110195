# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""One cold-start run, from a :class:`~reczero_verl.coldstart.config.ColdstartConfig` to the files in its output
folder: check the folder and the journal, choose the samples, send the unfinished ones to the teacher (and the
judge), then rebuild the SFT files and ``stats.json`` from the journal.

:func:`run_coldstart` returns a :class:`ColdstartResult` whether or not every sample finished: a run stopped by an
endpoint, or one that leaves samples pending, still exports what it has. :meth:`ColdstartResult.raise_for_outcome`
turns such an outcome into the error the command exits with (:class:`EndpointRefusedError`, exit code 2;
:class:`SamplesPendingError`, exit code 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reczero_verl.coldstart.client import ChatClient, FatalAPIError
from reczero_verl.coldstart.config import ColdstartConfig
from reczero_verl.coldstart.export import (
    DROPPED,
    KEPT_DIRECT,
    KEPT_RATIONALIZED,
    SFT_TRAIN_NAME,
    SFT_VAL_NAME,
    STATS_NAME,
    build_sft_rows,
    journal_totals,
    sft_table,
    split_train_val,
)
from reczero_verl.coldstart.journal import JOURNAL_NAME, Journal, JournalState, exclusive_lock, read_journal
from reczero_verl.coldstart.runner import EndpointDownError, LeakCheck, RunCounters, now_utc, run_samples
from reczero_verl.coldstart.samples import Sample, attach_prompts, read_meta, stratified_order
from reczero_verl.durable import write_json_atomic, write_parquet_atomic
from reczero_verl.errors import EXIT_BAD_INPUT, EXIT_FAILED, BadInputError, ReczeroError

logger = logging.getLogger("reczero_verl.coldstart")

__all__ = ["ColdstartResult", "EndpointRefusedError", "SamplesPendingError", "run_coldstart"]

#: Settings that must not change between runs sharing an output folder: they decide which samples are chosen and
#: which answers are kept (a folder started before a setting existed is not checked for it).
_PINNED_SETTINGS = ("model", "tolerance", "seed", "leak_judge", "judge_model", "judge_prompt")


class EndpointRefusedError(ReczeroError):
    """An endpoint refused the configuration (401/403/404, an exhausted quota, every first request rejected): the run
    stopped; fix the key, the URL or the model and rerun (exit code 2)."""

    exit_code = EXIT_BAD_INPUT


class SamplesPendingError(ReczeroError):
    """Selected samples are still unfinished (an endpoint was down, or their requests kept failing); rerunning the
    same command retries them (exit code 1)."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class ColdstartResult:
    """What a run left in its output folder: ``stats`` (those of ``stats.json``) and why it stopped early, if it did."""

    output_dir: Path
    stats: dict[str, Any]
    #: why an endpoint refused the configuration (the run stopped), or None
    refused: str | None = None
    #: why an endpoint was unreachable or unusable (the run stopped, samples left pending), or None
    endpoint_down: str | None = None
    export_only: bool = False

    @property
    def pending(self) -> int:
        """Selected samples without a final record."""
        return int(self.stats["pending"])

    def raise_for_outcome(self) -> None:
        """Raise :class:`EndpointRefusedError` or :class:`SamplesPendingError` unless the run finished every
        selected sample (an ``--export-only`` run never raises here)."""
        if self.refused is not None:
            raise EndpointRefusedError(f"stopped: {self.refused}")
        if self.endpoint_down is not None:
            raise SamplesPendingError(
                f"stopped: {self.endpoint_down}. Rerun the same command when the endpoint is back: finished samples "
                "are kept"
            )
        if self.pending and not self.export_only:
            raise SamplesPendingError(
                f"{self.pending} samples are still pending (their requests kept failing); rerun the same command to "
                "retry"
            )


@dataclass(frozen=True)
class _Selection:
    """The samples of a run: the selected ones, every loaded one by index, the malformed input rows."""

    selected: list[Sample]
    by_index: dict[int, Sample]
    problems: list[str]
    valid_rows: int


@dataclass(frozen=True)
class _Teaching:
    """What sending the unfinished samples gave: this run's counters and why it stopped early, if it did."""

    counters: RunCounters | None = None
    refused: str | None = None
    endpoint_down: str | None = None


def _prepare_output(out_dir: Path) -> None:
    """Create the output folder; refuse a file, a folder under a file or an unwritable folder before any request."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"--output-dir {out_dir} is a file, not a folder; choose a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BadInputError(f"--output-dir {out_dir}: a parent of it is a file; choose another folder") from None
    except OSError as err:
        raise BadInputError(
            f"--output-dir {out_dir} cannot be created ({err.strerror}); choose another folder"
        ) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise BadInputError(f"--output-dir {out_dir} is not writable; choose another folder")


def _check_pinned(runs: list[dict[str, Any]], config: ColdstartConfig) -> None:
    """Refuse to mix runs whose choice of samples or acceptance rule differ in one journal."""
    if not runs or config.export_only:
        return
    first = runs[0]
    settings = config.run_settings()
    for key in _PINNED_SETTINGS:
        now = settings[key]
        if key in first and first[key] != now:
            raise BadInputError(
                f"{config.output_dir / JOURNAL_NAME} was started with {key}={first[key]!r}, this run has "
                f"{key}={now!r}; use the same setting to resume, or a new --output-dir"
            )


def _check_digests(finals: dict[int, dict[str, Any]], by_index: dict[int, Sample], out_dir: Path) -> None:
    """Refuse an input whose prompts differ from those the journaled answers were written for."""
    for index, record in finals.items():
        sample = by_index.get(index)
        if sample is not None and record.get("prompt_sha1") != sample.digest:
            raise BadInputError(
                f"{out_dir / JOURNAL_NAME}: sample {index} was answered for another prompt than the one in --input; "
                "use the input the folder was made from, or a new --output-dir"
            )


def _select(config: ColdstartConfig, state: JournalState) -> _Selection:
    """Choose the samples of this run.

    Prompts are read for the chosen samples and for every journaled one (the SFT files hold all kept traces, also
    those of an earlier run with a larger ``max_samples``).
    """
    metas, problems = read_meta(config.input, strict=config.strict)
    chosen = [metas[pos] for pos in stratified_order(metas, config.seed)[: config.max_samples]]
    meta_by_index = {m.index: m for m in metas}
    needed = {m.index: m for m in chosen}
    for index in state.finals:
        if index in meta_by_index:
            needed.setdefault(index, meta_by_index[index])
    loaded, prompt_problems = attach_prompts(config.input, list(needed.values()), strict=config.strict)
    problems = problems + prompt_problems
    if problems:
        logger.warning(
            "%d malformed input rows skipped (--strict rejects them); first: %s",
            len(problems),
            "; ".join(problems[:3]),
        )
    by_index = {s.index: s for s in loaded}
    selected = [by_index[m.index] for m in chosen if m.index in by_index]
    return _Selection(selected, by_index, problems, len(metas))


def _postfix(counters: RunCounters) -> dict[str, int]:
    """The figures shown on the progress bar."""
    return {
        "kept": counters.outcomes.get(KEPT_DIRECT, 0),
        "rat": counters.outcomes.get(KEPT_RATIONALIZED, 0),
        "drop": counters.outcomes.get(DROPPED, 0),
        "tok_in": counters.tokens_in,
        "tok_out": counters.tokens_out,
    }


def _api_key(env: str | None, whom: str) -> str | None:
    """The API key in environment variable ``env`` (None when unset: requests carry no key)."""
    key = (os.environ.get(env) or None) if env else None
    if key is None:
        logger.info("%s requests carry no API key (%s)", whom, f"{env} is not set" if env else "no variable named")
    return key


def _clients(config: ColdstartConfig) -> tuple[ChatClient, ChatClient | None]:
    """The teacher's client and the leak judge's (None when the leak check is lexical only)."""
    policy = config.retry_policy()
    teacher = ChatClient(
        str(config.base_url),
        str(config.model),
        api_key=_api_key(config.api_key_env, "teacher"),
        api_key_env=config.api_key_env,
        timeout=config.timeout,
        policy=policy,
        params=config.request_params(),
    )
    judge_url, judge_model, judge_key_env = config.judge_endpoint()
    if judge_url is None or judge_model is None:
        return teacher, None
    judge = ChatClient(
        judge_url,
        judge_model,
        api_key=_api_key(judge_key_env, "leak judge"),
        api_key_env=judge_key_env,
        timeout=config.timeout,
        policy=policy,
        params=config.judge_params(),
        option_prefix="judge-",
    )
    return teacher, judge


async def _collect(
    todo: list[Sample],
    config: ColdstartConfig,
    journal: Journal,
    state: JournalState,
    bar: Any,
    counters: RunCounters,
) -> None:
    """Run the teacher (and judge) requests for ``todo``, updating ``bar`` and ``counters`` (kept when it raises)."""
    step = max(1, len(todo) // 20)
    finished = 0

    def on_final(record: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        bar.set_postfix(_postfix(counters), refresh=False)
        bar.update(1)
        if bar.disable and (finished % step == 0 or finished == len(todo)):
            # No bar (not a terminal, or --no-progress): a log line every 5% instead.
            logger.info("progress: %d/%d samples this run; %s", finished, len(todo), _postfix(counters))

    teacher, judge = _clients(config)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(teacher)
        if judge is not None:
            await stack.enter_async_context(judge)
        await run_samples(
            todo,
            teacher,
            journal,
            tolerance=config.tolerance,
            concurrency=config.concurrency,
            journaled=state,
            on_final=on_final,
            counters=counters,
            max_answer_chars=config.max_answer_chars,
            leak_check=LeakCheck(config.leak_judge, judge),
        )


def _teach(config: ColdstartConfig, selected: list[Sample], todo: list[Sample], state: JournalState) -> _Teaching:
    """Send ``todo`` to the teacher (and the judge), journaling a ``run`` record first."""
    from tqdm.auto import tqdm

    run_record = {"type": "run", "time": now_utc(), **config.run_settings()}
    counters = RunCounters()
    with Journal(config.output_dir / JOURNAL_NAME) as journal:
        journal.append(run_record)
        bar = tqdm(
            total=len(selected),
            initial=len(selected) - len(todo),
            desc="coldstart",
            unit="sample",
            disable=None if config.progress else True,
            dynamic_ncols=True,
        )
        try:
            asyncio.run(_collect(todo, config, journal, state, bar, counters))
        except FatalAPIError as exc:
            return _Teaching(counters, refused=str(exc))
        except EndpointDownError as exc:
            return _Teaching(counters, endpoint_down=str(exc))
        finally:
            bar.close()
    return _Teaching(counters)


def _export(config: ColdstartConfig, selection: _Selection, counters: RunCounters | None) -> dict[str, Any]:
    """Rebuild the SFT parquet files and stats.json from the journal (atomically); return the stats."""
    out_dir = config.output_dir
    state = read_journal(out_dir / JOURNAL_NAME)
    rows = build_sft_rows(state, selection.by_index)
    train, val = split_train_val(rows, config.val_ratio, config.seed)
    write_parquet_atomic(sft_table(train), out_dir / SFT_TRAIN_NAME)
    if val or config.val_ratio > 0:
        write_parquet_atomic(sft_table(val), out_dir / SFT_VAL_NAME)
    finished = sum(1 for s in selection.selected if s.index in state.finals)
    stats = {
        **journal_totals(state),
        "sft_train_rows": len(train),
        "sft_val_rows": len(val),
        "selected": len(selection.selected),
        "selected_finished": finished,
        "pending": len(selection.selected) - finished,
        "malformed_input_rows": len(selection.problems),
        "valid_input_rows": selection.valid_rows,
        "this_run": counters.as_dict() if counters is not None else {},
        "settings": {k: v for k, v in (state.runs[-1] if state.runs else {}).items() if k != "type"},
    }
    write_json_atomic(stats, out_dir / STATS_NAME)
    return stats


def _summary(stats: dict[str, Any]) -> None:
    """Log this run's figures and the cumulative ones (the same as stats.json)."""
    this = stats.get("this_run", {})
    logger.info(
        "this run: %d requests (%d retries), tokens in/out %d/%d, kept direct %d, kept rationalized %d, dropped %d %s",
        this.get("requests", 0),
        this.get("retries", 0),
        this.get("tokens_in", 0),
        this.get("tokens_out", 0),
        this.get("kept_direct", 0),
        this.get("kept_rationalized", 0),
        this.get("dropped", 0),
        this.get("dropped_by_reason", {}),
    )
    logger.info(
        "all runs: %d/%d selected samples finished, %d pending; %d requests (%d retries), tokens in/out %d/%d; "
        "kept direct %d, kept rationalized %d, dropped %d %s; sft_train %d rows, sft_val %d rows",
        stats["selected_finished"],
        stats["selected"],
        stats["pending"],
        stats["requests"],
        stats["retries"],
        stats["tokens_in"],
        stats["tokens_out"],
        stats["kept_direct"],
        stats["kept_rationalized"],
        stats["dropped"],
        stats["dropped_by_reason"],
        stats["sft_train_rows"],
        stats["sft_val_rows"],
    )
    _summary_of_checks(stats)


def _summary_of_checks(stats: dict[str, Any]) -> None:
    """Log what the leak check and the endpoint's rejections did across all runs."""
    if stats["dropped_as_leak"]:
        logger.info(
            "%d rationalized trace(s) dropped as leaks (their reasoning lets on that the answer was given): "
            "%d by the lexical rules, %d by the judge; by rule %s",
            stats["dropped_as_leak"],
            stats["dropped_as_leak_by"]["lexical"],
            stats["dropped_as_leak_by"]["judge"],
            stats["dropped_leaks_by_rule"],
        )
    if stats["judge_calls"]:
        logger.info(
            "leak judge: %d call(s) in %d request(s), verdicts %s; %d unparseable answer(s) retried; %d call(s) gave "
            "no verdict (their samples were left pending for a rerun)",
            stats["judge_calls"],
            stats["judge_requests"],
            stats["judge_verdicts"],
            stats["judge_unparseable"],
            stats["judge_failures"],
        )
    if stats["rejected_to_retry"]:
        logger.warning(
            "%d sample(s) were rejected by the endpoint (HTTP 4xx); the next run sends them again",
            stats["rejected_to_retry"],
        )


def run_coldstart(config: ColdstartConfig) -> ColdstartResult:
    """Run the cold start of ``config``: resume its output folder, send the unfinished selected samples, export.

    Bad input (an unusable folder, an input that is not a prepared parquet, a journal started with other pinned
    settings or for other prompts) raises a :class:`~reczero_verl.errors.ReczeroError` before any request. An
    endpoint that stops the run does not raise here: see :meth:`ColdstartResult.raise_for_outcome`.
    """
    out_dir = config.output_dir
    _prepare_output(out_dir)
    with exclusive_lock(out_dir):
        state = read_journal(out_dir / JOURNAL_NAME)
        _check_pinned(state.runs, config)
        selection = _select(config, state)
        _check_digests(state.finals, selection.by_index, out_dir)
        todo = [s for s in selection.selected if state.open(s.index)]
        logger.info(
            "%d samples selected from %s (%d valid input rows); %d already finished, %d to do (%d rejected by the "
            "endpoint in an earlier run, sent again)",
            len(selection.selected),
            config.input,
            selection.valid_rows,
            len(selection.selected) - len(todo),
            len(todo),
            sum(1 for s in todo if s.index in state.finals),
        )
        teaching = _Teaching()
        if todo and not config.export_only:
            teaching = _teach(config, selection.selected, todo, state)
        stats = _export(config, selection, teaching.counters)
    _summary(stats)
    return ColdstartResult(out_dir, stats, teaching.refused, teaching.endpoint_down, config.export_only)
