# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl coldstart``: RecOne cold-start data from any OpenAI-compatible endpoint.

Example (a local ``vllm serve`` needs no key; a paid API reads it from ``--api-key-env``)::

    reczero-verl coldstart --input data/book/train.parquet --output-dir data/book/coldstart \\
        --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --api-key-env DEEPSEEK_API_KEY \\
        --max-samples 2000 --concurrency 16

Rationalized traces are checked for leaks by the lexical rules and then by a blind judge model, by default the
teacher's endpoint and model (``--leak-judge``, ``--judge-model``, ``--judge-base-url``, ``--judge-api-key-env``).
Rerunning the same command resumes: finished samples are skipped, interrupted ones redone. The outputs are
``DIR/coldstart.jsonl`` (audit journal), ``DIR/sft_train.parquet`` / ``DIR/sft_val.parquet`` (``messages`` column for
``verl.trainer.sft_trainer``) and ``DIR/stats.json``.

Exit codes: 0 done; 1 some samples still pending (an endpoint was down or requests kept failing: rerun to retry
them); 2 configuration, input or API error (one line naming the file or option and the fix); 130 interrupted.

This module only parses: :class:`~reczero_verl.coldstart.config.ColdstartConfig` holds the options and
:func:`~reczero_verl.coldstart.pipeline.run_coldstart` runs them (the Python API).
"""

from __future__ import annotations

import argparse
import logging
from functools import partial

from reczero_verl.coldstart.config import ColdstartConfig
from reczero_verl.coldstart.pipeline import run_coldstart
from reczero_verl.errors import EXIT_OK
from reczero_verl.options import add_option, add_output_dir, from_args

logger = logging.getLogger("reczero_verl.coldstart")

#: Loggers of the SDK and its HTTP client, which log every request (and its body, at DEBUG).
_QUIET_LOGGERS = ("openai", "httpx", "httpcore", "httpx2", "httpcore2")


def _io_options(group: argparse._ArgumentGroup) -> None:
    add = partial(add_option, group, ColdstartConfig)
    add("input", "train.parquet written by 'reczero-verl prepare'")
    add_output_dir(group, "output folder (created; rerun with it to resume)")
    add(
        "max_samples",
        "prompts sent to the teacher, stratified by rating (ranking: the target's candidate number; like: the "
        "label); raise it and rerun to add samples (--export-only sends none)",
    )
    add("seed", "seed of the stratified sample and the val split")
    add("val_ratio", "share of kept traces in sft_val.parquet; 0: no validation split")
    add("strict", "fail on any malformed input row instead of skipping it", action="store_true")
    add("export_only", "send nothing: rebuild the parquet files and stats from the journal", action="store_true")


def _endpoint_options(group: argparse._ArgumentGroup) -> None:
    add = partial(add_option, group, ColdstartConfig)
    add("base_url", "e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
    add("model", "teacher model name as the endpoint knows it")
    add(
        "api_key_env",
        "environment variable holding the API key (unset: no Authorization header, fine for vllm serve)",
    )
    add("temperature", "sampling temperature (0.6: DeepSeek-R1 advice); 0: greedy")
    add("top_p", "nucleus sampling; unset: not sent")
    add("max_tokens", "max_tokens per answer; 0: not sent")
    add("extra_body", "JSON object merged into every request body, e.g. '{\"seed\": 1}'")
    add("concurrency", "samples in flight at once")
    add(
        "timeout",
        "seconds for a whole request, from sending it to the last byte of the answer, before it is retried",
    )
    add("max_retries", "retries of a failing request before it is deferred; 0: no retries")
    add(
        "backoff_base",
        "ceiling of the first retry delay in seconds; it doubles with each retry and every delay is drawn uniformly "
        "below it (exponential backoff with full jitter); 0: retry at once",
    )
    add("backoff_max", "largest retry delay ceiling in seconds")
    add(
        "max_retry_after",
        "longest wait in seconds that a server's Retry-After header may ask for (a longer one is cut to this; the "
        "log says so); 0: retry at once even then",
    )


def _kept_options(group: argparse._ArgumentGroup) -> None:
    add = partial(add_option, group, ColdstartConfig)
    add(
        "max_answer_chars",
        "an answer longer than this (after removing hidden thinking) is dropped as too_long and journaled cut to "
        "this length",
    )
    add(
        "tolerance",
        "keep a direct answer when |round_half_up(pred) - y| <= T; 0: the rounded rating equals y (ranking: the "
        "target within the first 1 + T places; like: p on the label's side of 0.5, whatever T)",
    )


def _leak_options(group: argparse._ArgumentGroup) -> None:
    add = partial(add_option, group, ColdstartConfig)
    add(
        "leak_judge",
        "lexical: the cheap lexical rules only; llm: a blind judge model reads the three reasoning sections "
        "(never the answer line nor the hint) and says whether they refer to the answer as given; both: the rules "
        "first, and the judge on every trace they pass",
    )
    add("judge_model", "judge model name; unset: --model")
    add("judge_base_url", "judge endpoint; unset: --base-url")
    add(
        "judge_api_key_env",
        "environment variable holding the judge's API key; unset: --api-key-env when the judge uses --base-url, "
        "none otherwise, so the teacher's key is never sent to another endpoint",
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the coldstart arguments to ``parser``."""
    _io_options(parser.add_argument_group("input and output"))
    _endpoint_options(parser.add_argument_group("teacher endpoint (OpenAI chat-completions protocol)"))
    _kept_options(parser.add_argument_group("which traces are kept"))
    _leak_options(parser.add_argument_group("leak check of rationalized traces (see README: leak check)"))
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> ColdstartConfig:
    """The typed config of a parsed ``reczero-verl coldstart`` command line."""
    return from_args(ColdstartConfig, args, progress=not args.no_progress)


def main(args: argparse.Namespace) -> int:
    """Entry point of ``reczero-verl coldstart``; returns 0 when every selected sample is finished.

    Bad options, inputs and journals, an endpoint refusing the configuration and samples left pending raise
    :class:`~reczero_verl.errors.ReczeroError` subclasses, which ``reczero-verl``'s entry point turns into one logged
    line and their exit code (see the module docstring).
    """
    for name in _QUIET_LOGGERS:  # keep the log about samples, not HTTP requests
        logging.getLogger(name).setLevel(logging.WARNING)
    config = config_from_args(args)
    try:
        result = run_coldstart(config)
    except KeyboardInterrupt:
        logger.warning("interrupted: finished samples are saved; rerun the same command to resume")
        raise
    result.raise_for_outcome()
    return EXIT_OK
