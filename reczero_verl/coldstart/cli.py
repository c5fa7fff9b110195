# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl coldstart``: RecOne cold-start data from any OpenAI-compatible endpoint.

Example (a local ``vllm serve`` needs no key; a paid API reads it from ``--api-key-env``)::

    reczero-verl coldstart --input data/book/train.parquet --output data/book/coldstart \\
        --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --api-key-env DEEPSEEK_API_KEY \\
        --max-samples 2000 --concurrency 16

Rationalized traces are checked for leaks by the lexical rules and then by a blind judge model, by default the
teacher's endpoint and model (``--leak-judge``, ``--judge-model``, ``--judge-base-url``, ``--judge-api-key-env``).
Rerunning the same command resumes: finished samples are skipped, interrupted ones redone. The outputs are
``DIR/coldstart.jsonl`` (audit journal), ``DIR/sft_train.parquet`` / ``DIR/sft_val.parquet`` (``messages`` column for
``verl.trainer.sft_trainer``) and ``DIR/stats.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from reczero_verl.coldstart.client import RESERVED_PARAMS, ChatClient, FatalAPIError, RetryPolicy
from reczero_verl.coldstart.export import (
    DROPPED,
    KEPT_DIRECT,
    KEPT_RATIONALIZED,
    SFT_TRAIN_NAME,
    SFT_VAL_NAME,
    STATS_NAME,
    build_sft_rows,
    journal_totals,
    split_train_val,
    write_json_atomic,
    write_parquet_atomic,
)
from reczero_verl.coldstart.journal import (
    JOURNAL_NAME,
    Journal,
    JournalState,
    exclusive_lock,
    read_journal,
)
from reczero_verl.coldstart.leak_judge import BOTH, JUDGE_PROMPT_VERSION, LEAK_JUDGE_MODES, LEXICAL
from reczero_verl.coldstart.runner import (
    DEFAULT_MAX_ANSWER_CHARS,
    EndpointDownError,
    LeakCheck,
    RunCounters,
    now_utc,
    run_samples,
)
from reczero_verl.coldstart.samples import Sample, attach_prompts, read_meta, stratified_order
from reczero_verl.errors import EXIT_BAD_INPUT, BadInputError

logger = logging.getLogger("reczero_verl.coldstart")

#: Settings that must not change between runs sharing an output folder: they decide which samples are chosen and
#: which answers are kept (a folder started before a setting existed is not checked for it).
_PINNED_SETTINGS = ("model", "tolerance", "seed", "leak_judge", "judge_model", "judge_prompt")
#: Exit codes: 0 done; 1 some samples still pending (rerun to retry them); 2 configuration / input / API error (one
#: line naming the file or option and the fix); 130 interrupted.
EXIT_OK, EXIT_PENDING, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, EXIT_BAD_INPUT, 130


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the coldstart arguments to ``parser``."""
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", required=True, type=Path, help="train.parquet written by 'reczero-verl prepare'")
    io.add_argument(
        "--output",
        "--output-dir",
        dest="output",
        required=True,
        type=Path,
        help="output folder (created; rerun with it to resume)",
    )
    io.add_argument(
        "--max-samples", type=int, default=1000, help="prompts sent to the teacher, stratified by rating (default 1000)"
    )
    io.add_argument("--seed", type=int, default=0, help="seed of the stratified sample and the val split")
    io.add_argument("--val-ratio", type=float, default=0.05, help="share of kept traces in sft_val.parquet")
    io.add_argument("--strict", action="store_true", help="fail on any malformed input row instead of skipping it")
    io.add_argument(
        "--export-only", action="store_true", help="send nothing: rebuild the parquet files and stats from the journal"
    )

    api = parser.add_argument_group("teacher endpoint (OpenAI chat-completions protocol)")
    api.add_argument("--base-url", help="e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
    api.add_argument("--model", help="teacher model name as the endpoint knows it")
    api.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (unset: no Authorization header, fine for vllm serve)",
    )
    api.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (0.6: DeepSeek-R1 advice)")
    api.add_argument("--top-p", type=float, default=None, help="nucleus sampling (not sent when omitted)")
    api.add_argument("--max-tokens", type=int, default=8192, help="max_tokens per answer (0: not sent)")
    api.add_argument(
        "--extra-body", default=None, help="JSON object merged into every request body, e.g. '{\"seed\": 1}'"
    )
    api.add_argument("--concurrency", type=int, default=8, help="samples in flight at once")
    api.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds for a whole request, from sending it to the last byte of the answer, before it is retried",
    )
    api.add_argument("--max-retries", type=int, default=6, help="retries of a failing request before it is deferred")
    api.add_argument(
        "--backoff-base",
        type=float,
        default=1.0,
        help="ceiling of the first retry delay in seconds; it doubles with each retry and every delay is drawn "
        "uniformly below it (exponential backoff with full jitter)",
    )
    api.add_argument("--backoff-max", type=float, default=60.0, help="largest retry delay ceiling in seconds")
    api.add_argument(
        "--max-retry-after",
        type=float,
        default=300.0,
        help="longest wait in seconds that a server's Retry-After header may ask for (a longer one is cut to this; "
        "the log says so)",
    )

    keep = parser.add_argument_group("which traces are kept")
    keep.add_argument(
        "--max-answer-chars",
        type=int,
        default=DEFAULT_MAX_ANSWER_CHARS,
        help="an answer longer than this (after removing hidden thinking) is dropped as too_long and journaled cut "
        f"to this length (default {DEFAULT_MAX_ANSWER_CHARS})",
    )
    keep.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="keep a direct answer when |round_half_up(pred) - y| <= T (default 0: the rounded rating equals y)",
    )
    leak = parser.add_argument_group("leak check of rationalized traces (see README: leak check)")
    leak.add_argument(
        "--leak-judge",
        choices=LEAK_JUDGE_MODES,
        default=BOTH,
        help="lexical: the cheap lexical rules only; llm: a blind judge model reads the three reasoning sections "
        "(never the <rate> line nor the hint) and says whether they refer to the rating as given; both (default): "
        "the rules first, and the judge on every trace they pass",
    )
    leak.add_argument("--judge-model", default=None, help="judge model name (default: --model)")
    leak.add_argument("--judge-base-url", default=None, help="judge endpoint (default: --base-url)")
    leak.add_argument(
        "--judge-api-key-env",
        default=None,
        help="environment variable holding the judge's API key (default: --api-key-env when the judge uses "
        "--base-url; none otherwise, so the teacher's key is never sent to another endpoint)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _request_params(args: argparse.Namespace) -> dict[str, Any]:
    """The sampling parameters sent with every request (``--extra-body`` merged last)."""
    params: dict[str, Any] = {"temperature": args.temperature}
    if args.top_p is not None:
        params["top_p"] = args.top_p
    if args.max_tokens:
        params["max_tokens"] = args.max_tokens
    if args.extra_body:
        try:
            extra = json.loads(args.extra_body)
        except ValueError as exc:
            raise BadInputError(f"--extra-body is not JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise BadInputError("--extra-body must be a JSON object")
        reserved = sorted(RESERVED_PARAMS & set(extra))
        if reserved:
            raise BadInputError(f"--extra-body may not set {reserved}: the command sets them itself")
        params.update(extra)
    return params


def _judge_params(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters of a judge request: the teacher's (``--max-tokens``, ``--extra-body``) at temperature 0."""
    params = _request_params(args)
    params.pop("top_p", None)
    params["temperature"] = 0.0
    return params


def _judge_endpoint(args: argparse.Namespace) -> tuple[str | None, str | None, str | None]:
    """``(base URL, model, API key variable)`` of the leak judge; all None when the check is lexical only."""
    if args.leak_judge == LEXICAL:
        return None, None, None
    base_url = args.judge_base_url or args.base_url
    same_endpoint = (base_url or "").rstrip("/") == (args.base_url or "").rstrip("/")
    key_env = args.judge_api_key_env or (args.api_key_env if same_endpoint else None)
    return base_url, args.judge_model or args.model, key_env


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of this run as the journal's ``run`` record states them (never the API keys themselves)."""
    judge_url, judge_model, judge_key_env = _judge_endpoint(args)
    return {
        "input": str(args.input),
        "base_url": args.base_url,
        "model": args.model,
        "tolerance": args.tolerance,
        "seed": args.seed,
        "max_samples": args.max_samples,
        "params": _request_params(args),
        "api_key_env": args.api_key_env,
        "leak_judge": args.leak_judge,
        "judge_base_url": judge_url,
        "judge_model": judge_model,
        "judge_api_key_env": judge_key_env,
        "judge_prompt": JUDGE_PROMPT_VERSION if args.leak_judge != LEXICAL else None,
    }


def _validate(args: argparse.Namespace) -> None:
    """Reject impossible option values before anything is read or sent."""
    if not args.export_only and (not args.base_url or not args.model):
        raise BadInputError("--base-url and --model are required (or --export-only)")
    if not args.export_only and not args.base_url.startswith(("http://", "https://")):
        raise BadInputError(f"--base-url must start with http:// or https://, got {args.base_url!r}")
    if args.judge_base_url is not None and not args.judge_base_url.startswith(("http://", "https://")):
        raise BadInputError(f"--judge-base-url must start with http:// or https://, got {args.judge_base_url!r}")
    if args.max_samples < 0:
        raise BadInputError("--max-samples must be >= 0")
    if args.concurrency < 1:
        raise BadInputError("--concurrency must be >= 1")
    if not 0 <= args.val_ratio < 1:
        raise BadInputError("--val-ratio must be in [0, 1)")
    if args.tolerance < 0:
        raise BadInputError("--tolerance must be >= 0")
    if args.max_retries < 0 or args.backoff_base < 0 or args.backoff_max < 0 or args.timeout <= 0:
        raise BadInputError("--max-retries, --backoff-base, --backoff-max must be >= 0 and --timeout > 0")
    if not args.max_retry_after >= 0:
        raise BadInputError(f"--max-retry-after must be >= 0 seconds, got {args.max_retry_after}")
    if args.max_answer_chars < 1:
        raise BadInputError(f"--max-answer-chars must be >= 1, got {args.max_answer_chars}")


def _prepare_output(out_dir: Path) -> None:
    """Create the output folder; refuse a file, a folder under a file or an unwritable folder before any request."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"--output {out_dir} is a file, not a folder; choose a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise BadInputError(f"--output {out_dir}: a parent of it is a file; choose another folder") from None
    except OSError as err:
        raise BadInputError(f"--output {out_dir} cannot be created ({err.strerror}); choose another folder") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise BadInputError(f"--output {out_dir} is not writable; choose another folder")


def _check_pinned(runs: list[dict[str, Any]], args: argparse.Namespace, out_dir: Path) -> None:
    """Refuse to mix runs whose choice of samples or acceptance rule differ in one journal."""
    if not runs or args.export_only:
        return
    first = runs[0]
    settings = _settings(args)
    for key in _PINNED_SETTINGS:
        now = settings[key]
        if key in first and first[key] != now:
            raise BadInputError(
                f"{out_dir / JOURNAL_NAME} was started with {key}={first[key]!r}, this run has {key}={now!r}; "
                "use the same setting to resume, or a new --output"
            )


def _check_digests(finals: dict[int, dict[str, Any]], by_index: dict[int, Sample], out_dir: Path) -> None:
    """Refuse an input whose prompts differ from those the journaled answers were written for."""
    for index, record in finals.items():
        sample = by_index.get(index)
        if sample is not None and record.get("prompt_sha1") != sample.digest:
            raise BadInputError(
                f"{out_dir / JOURNAL_NAME}: sample {index} was answered for another prompt than the one in --input; "
                "use the input the folder was made from, or a new --output"
            )


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


def _clients(args: argparse.Namespace) -> tuple[ChatClient, ChatClient | None]:
    """The teacher's client and the leak judge's (None when the leak check is lexical only)."""
    policy = RetryPolicy(
        max_retries=args.max_retries,
        base_delay=args.backoff_base,
        max_delay=args.backoff_max,
        max_retry_after=args.max_retry_after,
    )
    teacher = ChatClient(
        args.base_url,
        args.model,
        api_key=_api_key(args.api_key_env, "teacher"),
        api_key_env=args.api_key_env,
        timeout=args.timeout,
        policy=policy,
        params=_request_params(args),
    )
    judge_url, judge_model, judge_key_env = _judge_endpoint(args)
    if judge_url is None or judge_model is None:
        return teacher, None
    judge = ChatClient(
        judge_url,
        judge_model,
        api_key=_api_key(judge_key_env, "leak judge"),
        api_key_env=judge_key_env,
        timeout=args.timeout,
        policy=policy,
        params=_judge_params(args),
        option_prefix="judge-",
    )
    return teacher, judge


async def _collect(
    todo: list[Sample],
    args: argparse.Namespace,
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

    teacher, judge = _clients(args)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(teacher)
        if judge is not None:
            await stack.enter_async_context(judge)
        await run_samples(
            todo,
            teacher,
            journal,
            tolerance=args.tolerance,
            concurrency=args.concurrency,
            journaled=state,
            on_final=on_final,
            counters=counters,
            max_answer_chars=args.max_answer_chars,
            leak_check=LeakCheck(args.leak_judge, judge),
        )


def _export(out_dir: Path, by_index: dict[int, Sample], args: argparse.Namespace, extra: dict[str, Any]) -> dict:
    """Rebuild the SFT parquet files and stats.json from the journal (atomically); return the stats."""
    state = read_journal(out_dir / JOURNAL_NAME)
    rows = build_sft_rows(state, by_index)
    train, val = split_train_val(rows, args.val_ratio, args.seed)
    write_parquet_atomic(train, out_dir / SFT_TRAIN_NAME)
    if val or args.val_ratio > 0:
        write_parquet_atomic(val, out_dir / SFT_VAL_NAME)
    stats = {**journal_totals(state), "sft_train_rows": len(train), "sft_val_rows": len(val), **extra}
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
    if stats["dropped_as_leak"]:
        logger.info(
            "%d rationalized trace(s) dropped as leaks (their reasoning lets on that the rating was given): "
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


def _select(args: argparse.Namespace, state: JournalState) -> tuple[list[Sample], dict[int, Sample], list[str], int]:
    """Choose the samples of this run; return ``(selected, samples by index, problems, valid input rows)``.

    Prompts are read for the chosen samples and for every journaled one (the SFT files hold all kept traces, also
    those of an earlier run with a larger ``--max-samples``).
    """
    metas, problems = read_meta(args.input, strict=args.strict)
    chosen = [metas[pos] for pos in stratified_order(metas, args.seed)[: args.max_samples]]
    meta_by_index = {m.index: m for m in metas}
    needed = {m.index: m for m in chosen}
    for index in state.finals:
        if index in meta_by_index:
            needed.setdefault(index, meta_by_index[index])
    loaded, prompt_problems = attach_prompts(args.input, list(needed.values()), strict=args.strict)
    problems = problems + prompt_problems
    if problems:
        logger.warning(
            "%d malformed input rows skipped (--strict rejects them); first: %s",
            len(problems),
            "; ".join(problems[:3]),
        )
    by_index = {s.index: s for s in loaded}
    selected = [by_index[m.index] for m in chosen if m.index in by_index]
    return selected, by_index, problems, len(metas)


def _teach(
    args: argparse.Namespace, out_dir: Path, selected: list[Sample], todo: list[Sample], state: JournalState
) -> tuple[RunCounters, str | None, str | None]:
    """Send ``todo`` to the teacher (and the judge); return ``(counters, fatal error, endpoint-down error)``."""
    run_record = {"type": "run", "time": now_utc(), **_settings(args)}
    from tqdm.auto import tqdm

    counters = RunCounters()
    fatal = down = None
    with Journal(out_dir / JOURNAL_NAME) as journal:
        journal.append(run_record)
        bar = tqdm(
            total=len(selected),
            initial=len(selected) - len(todo),
            desc="coldstart",
            unit="sample",
            disable=True if args.no_progress else None,
            dynamic_ncols=True,
        )
        try:
            asyncio.run(_collect(todo, args, journal, state, bar, counters))
        except FatalAPIError as exc:
            fatal = str(exc)
        except EndpointDownError as exc:
            down = str(exc)
        finally:
            bar.close()
    return counters, fatal, down


def run(args: argparse.Namespace) -> int:
    """Do the work of :func:`main`; raises the errors main turns into exit codes."""
    _validate(args)
    out_dir: Path = args.output
    _prepare_output(out_dir)
    with exclusive_lock(out_dir):
        state = read_journal(out_dir / JOURNAL_NAME)
        _check_pinned(state.runs, args, out_dir)
        selected, by_index, problems, valid_rows = _select(args, state)
        _check_digests(state.finals, by_index, out_dir)
        todo = [s for s in selected if state.open(s.index)]
        retried = sum(1 for s in todo if s.index in state.finals)
        logger.info(
            "%d samples selected from %s (%d valid input rows); %d already finished, %d to do (%d rejected by the "
            "endpoint in an earlier run, sent again)",
            len(selected),
            args.input,
            valid_rows,
            len(selected) - len(todo),
            len(todo),
            retried,
        )
        counters, fatal, down = None, None, None
        if todo and not args.export_only:
            counters, fatal, down = _teach(args, out_dir, selected, todo, state)
        final_state = read_journal(out_dir / JOURNAL_NAME)
        finished = sum(1 for s in selected if s.index in final_state.finals)
        extra = {
            "selected": len(selected),
            "selected_finished": finished,
            "pending": len(selected) - finished,
            "malformed_input_rows": len(problems),
            "valid_input_rows": valid_rows,
            "this_run": counters.as_dict() if counters is not None else {},
            "settings": {k: v for k, v in (final_state.runs[-1] if final_state.runs else {}).items() if k != "type"},
        }
        stats = _export(out_dir, by_index, args, extra)
    _summary(stats)
    if fatal is not None:
        logger.error("stopped: %s", fatal)
        return EXIT_ERROR
    if down is not None:
        logger.error("stopped: %s. Rerun the same command when the endpoint is back: finished samples are kept", down)
        return EXIT_PENDING
    if stats["pending"] and not args.export_only:
        logger.warning(
            "%d samples are still pending (their requests kept failing); rerun the same command to retry",
            stats["pending"],
        )
        return EXIT_PENDING
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    """Entry point of ``reczero-verl coldstart``; returns the exit code.

    Input, option and journal errors are :class:`~reczero_verl.errors.ReczeroError` subclasses: ``reczero-verl``'s
    entry point turns them into one logged line and exit code 2.
    """
    # The SDK and its HTTP client log every request (and its body, at DEBUG): keep the log about samples.
    for name in ("openai", "httpx", "httpcore", "httpx2", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return run(args)
    except KeyboardInterrupt:
        logger.warning("interrupted: finished samples are saved; rerun the same command to resume")
        return EXIT_INTERRUPTED
