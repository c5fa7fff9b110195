# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl prepare``: raw dump -> prepared-sample parquet (train/test[/val]) + ``stats.json``.

Sub-commands, one per raw format::

    reczero-verl prepare amazon --reviews PATH [--meta PATH] --output-dir DIR [options]
    reczero-verl prepare yelp --reviews review.json [--business business.json] --output-dir DIR [options]
    reczero-verl prepare imdb --input test_helpful.json --output-dir DIR [options]
    reczero-verl prepare interactions --input FILE --user-col U --item-col I --rating-col R --time-col T \\
        --output-dir DIR [options]

Every sub-command takes ``--task rating|ranking|like`` (:mod:`.tasks`; default rating): ranking adds
``--candidates`` and ``--negatives``, like ``--like-threshold`` (``interactions`` also ``--label-col``).

From Python: :func:`reczero_verl.prepare.api.prepare` with typed inputs (this module only parses into them);
``run_prepare(argv)`` runs a command line in-process.
Top-level imports stay light (no torch, no verl): ``reczero-verl --help`` must answer at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .render import TextBudgets
from .schema import PrepareError
from .tasks import (
    DEFAULT_CANDIDATES,
    DEFAULT_LIKE_THRESHOLD,
    DEFAULT_TASK,
    NEGATIVE_MODES,
    TASKS,
    TaskConfig,
    default_like_threshold,
)

if TYPE_CHECKING:
    from . import api

#: Options that do not change what a run writes (where it runs, how fast): left out of stats.json's ``run.options``.
_NOT_RUN_OPTIONS = frozenset(
    {"output_dir", "memory_limit", "threads", "temp_dir", "command", "log_level", "source", "timings"}
)

logger = logging.getLogger(__name__)

_DEFAULT_SCALE = {"amazon": (1.0, 5.0), "yelp": (1.0, 5.0), "imdb": (1.0, 10.0), "interactions": (1.0, 5.0)}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _add_common(p: argparse.ArgumentParser, source: str) -> None:
    """Options shared by every source."""
    lo, hi = _DEFAULT_SCALE[source]
    out = p.add_argument_group("output")
    out.add_argument("--output-dir", required=True, type=Path, help="folder for train/test[/val].parquet + stats.json")
    out.add_argument(
        "--name",
        default=source,
        help=f"dataset name; data_source is 'reczero/<name>' for rating, 'reczero/<name>/<task>' otherwise "
        f"(default: {source})",
    )
    scale = p.add_argument_group("rating scale")
    implicit = source == "interactions"
    for bound, value, label in (("min", lo, 0), ("max", hi, 1)):
        note = f"; {label} with --label-col and no --rating-col" if implicit else ""
        scale.add_argument(
            f"--rating-{bound}",
            type=float,
            default=None,
            help=f"{'lowest' if bound == 'min' else 'highest'} valid rating (default: {value:g}{note})",
        )
    _add_task(p, source)
    split = p.add_argument_group("split and sampling")
    has_time = source != "imdb"
    split.add_argument(
        "--split",
        choices=("time", "random", "all-test", "all-train") if has_time else ("all-test", "all-train", "random"),
        default="time" if has_time else "all-test",
        help="time: global chronological cut (ties at a cut go wholly to the later split); random: seeded hash; "
        "all-test/all-train: one split (default: %(default)s)",
    )
    split.add_argument("--test-ratio", type=float, default=0.1, help="share of eligible targets in test (default 0.1)")
    split.add_argument("--val-ratio", type=float, default=0.0, help="share in val; 0 writes no val.parquet (default 0)")
    split.add_argument("--seed", type=int, default=42, help="seed of the random split and of sampling (default 42)")
    for name in ("train", "val", "test"):
        split.add_argument(
            f"--max-{name}", type=_positive_int, default=None, help=f"sample at most N {name} targets (seeded)"
        )
    if has_time:
        hist = p.add_argument_group("histories")
        hist.add_argument("--history-len", type=_positive_int, default=10, help="K most recent earlier interactions")
        hist.add_argument("--min-user-history", type=_positive_int, default=1, help="min earlier user interactions (1)")
        hist.add_argument("--min-item-history", type=_positive_int, default=1, help="min earlier item interactions (1)")
        hist.add_argument(
            "--min-total-history",
            type=_positive_int,
            default=0,
            help="min user + item earlier interactions (0; the public RecZero scripts use 5)",
        )
        hist.add_argument(
            "--dedup",
            choices=("user-item", "exact", "none"),
            default="user-item",
            help="user-item: keep the earliest record of a (user, item) pair; exact: of a (user, item, time); "
            "none: keep all (default: user-item)",
        )
    text = p.add_argument_group("text budgets (characters, after collapsing whitespace)")
    defaults = TextBudgets()
    text.add_argument("--max-review-chars", type=_positive_int, default=defaults.review, help="per history review")
    text.add_argument("--max-title-chars", type=_positive_int, default=defaults.title, help="per title")
    text.add_argument(
        "--max-text-chars",
        type=_positive_int,
        default=defaults.description,
        help="description, features, details of the target item",
    )
    text.add_argument("--max-profile-chars", type=_positive_int, default=defaults.profile, help="per EXP3RT profile")
    text.add_argument(
        "--max-candidate-chars",
        type=_positive_int,
        default=defaults.candidate,
        help=f"each text field of a ranking candidate but its title (default {defaults.candidate})",
    )
    run = p.add_argument_group("run")
    run.add_argument("--strict", action="store_true", help="fail on the first malformed/invalid record (file:line)")
    run.add_argument(
        "--memory-limit",
        default="3GB",
        help="memory of the run: DuckDB gets 45%% and spills to disk beyond it, the rest renders the samples (3GB)",
    )
    run.add_argument("--threads", type=_at_least_one, default=None, help="DuckDB threads (default: all cores)")
    run.add_argument("--temp-dir", type=Path, default=None, help="where DuckDB spills (default: system temp)")
    run.add_argument(
        "--timings", action="store_true", help="add each stage's wall time to stats.json (then no longer reproducible)"
    )


def _add_task(p: argparse.ArgumentParser, source: str) -> None:
    """The ``--task`` option and the options of each task."""
    task = p.add_argument_group("task")
    task.add_argument(
        "--task",
        choices=TASKS,
        default=DEFAULT_TASK,
        help="rating: predict the rating (data_source reczero/<name>); ranking: rank --candidates items, the target "
        "and negatives, for the next interaction (reczero/<name>/ranking); like: will the user like the item "
        "(reczero/<name>/like). Default: %(default)s"
        + ("; EXP3RT files have no timestamps: rating or like only" if source == "imdb" else ""),
    )
    task.add_argument(
        "--candidates",
        type=int,
        default=None,
        help=f"ranking: items shown, the target and N-1 negatives the user never interacted with, first seen "
        f"before the target (default {DEFAULT_CANDIDATES}); a target with too few such items is dropped as "
        "too_few_negatives",
    )
    task.add_argument(
        "--negatives",
        choices=NEGATIVE_MODES,
        default=None,
        help="ranking: draw the negatives uniformly, or by popularity counted strictly before the target "
        "(default: uniform); seeded by --seed",
    )
    task.add_argument(
        "--like-threshold",
        type=float,
        default=None,
        help=f"like: the label is rating >= this (default {DEFAULT_LIKE_THRESHOLD:g} on the 1-5 scale; required on "
        "any other scale; it must lie inside the scale)",
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``prepare`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)

    p = sub.add_parser(
        "amazon",
        help="Amazon reviews 2014/2018/2023 (JSON lines, .gz ok) + optional metadata",
        description="Amazon Review Data: 2014/2018 (reviewerID, asin, overall, unixReviewTime) or 2023 (user_id, "
        "parent_asin, rating, timestamp in ms), detected from the fields. --meta: 2014 (Python dict literals, parsed "
        "safely), 2018 or 2023 metadata. Without metadata, items have no title (prompts show the item id).",
    )
    p.add_argument("--reviews", required=True, type=Path, help="reviews file (JSON lines, plain or .gz)")
    p.add_argument("--meta", type=Path, default=None, help="item metadata file (JSON lines or 2014 literals)")
    p.add_argument(
        "--cross-item-dedup",
        choices=("auto", "on", "off"),
        default="auto",
        help="drop a review repeated under sibling items (same reviewer, time, rating, text, summary, verified flag "
        "and images; the 2014/2018 dumps list one review under every ASIN of a merged product), keeping its first "
        "line: auto = on for 2014/2018 files, off for 2023 (default: auto)",
    )
    _add_common(p, "amazon")

    p = sub.add_parser(
        "yelp",
        help="Yelp Open Dataset review.json (+ business.json)",
        description="Yelp: review.json (user_id, business_id, stars, date 'YYYY-MM-DD HH:MM:SS' UTC, text) and "
        "optionally business.json (name, categories, location, attributes).",
    )
    p.add_argument("--reviews", required=True, type=Path, help="review.json (JSON lines, plain or .gz)")
    p.add_argument("--business", type=Path, default=None, help="business.json (JSON lines, plain or .gz)")
    _add_common(p, "yelp")

    p = sub.add_parser(
        "imdb",
        help="EXP3RT rating-bias JSON (IMDb test_helpful.json; Amazon-book unseen.json with --rating-max 5)",
        description="EXP3RT files: one sample per record, profiles instead of histories (user_persona, "
        "item_synopsis; their '[Average Rating]' tail gives the averages), item fields from item_description. "
        "The rationale field is never used. No timestamps: --split all-test (default), all-train or random.",
    )
    p.add_argument("--input", required=True, type=Path, help="EXP3RT JSON array (or JSON lines) file")
    _add_common(p, "imdb")

    p = sub.add_parser(
        "interactions",
        help="your own log: CSV, parquet or JSON lines with user/item/rating/time columns",
        description="A table with one interaction a row. Time: unix seconds, milliseconds, microseconds, "
        "nanoseconds or ISO-8601 strings (--time-unit auto decides per record: a number below 1e11 is seconds, "
        "below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds; a non-number is ISO-8601). Times outside "
        "1970-2100, or an explicit unit that a value's magnitude contradicts, drop the record as "
        "implausible_timestamp. Item text from --item-cols "
        "FIELD=COLUMN (fields: title, categories, brand, description, features, details) of this file and/or of "
        "--items FILE.",
    )
    p.add_argument("--input", required=True, type=Path, help="CSV (header row), parquet or JSON-lines file")
    p.add_argument("--format", choices=("auto", "csv", "parquet", "jsonl"), default="auto", help="file format")
    p.add_argument("--delimiter", default=None, help="CSV delimiter (default: sniffed)")
    p.add_argument("--user-col", required=True)
    p.add_argument("--item-col", required=True)
    p.add_argument(
        "--rating-col", default=None, help="rating column (required, except with --label-col: then the label is shown)"
    )
    p.add_argument("--time-col", required=True)
    p.add_argument(
        "--label-col",
        default=None,
        help="--task like: an explicit 0/1 like label (0, 1, true, false; anything else drops the record as "
        "invalid_label) instead of rating >= --like-threshold; without --rating-col it is also the rating shown in "
        "the histories, on a 0-1 scale",
    )
    p.add_argument("--time-unit", choices=("auto", "s", "ms", "us", "ns", "iso"), default="auto")
    p.add_argument("--text-col", default=None, help="review text column (optional)")
    p.add_argument("--item-cols", nargs="*", default=[], metavar="FIELD=COLUMN", help="item text columns")
    p.add_argument("--items", type=Path, default=None, help="separate item table (CSV, parquet, JSON lines)")
    p.add_argument("--items-id-col", default=None, help="item id column of --items (default: --item-col)")
    p.add_argument(
        "--items-cols",
        nargs="*",
        default=None,
        metavar="FIELD=COLUMN",
        help="item columns of --items (default: --item-cols)",
    )
    _add_common(p, "interactions")


def _resolve_scale(args: argparse.Namespace) -> None:
    """Fill ``--rating-min`` / ``--rating-max`` left out: the source's scale, or 0-1 when an interactions log shows
    its 0/1 label as the rating (``--label-col`` without ``--rating-col``)."""
    lo, hi = _DEFAULT_SCALE[args.source]
    if getattr(args, "label_col", None) is not None and getattr(args, "rating_col", None) is None:
        lo, hi = 0.0, 1.0
    args.rating_min = lo if args.rating_min is None else args.rating_min
    args.rating_max = hi if args.rating_max is None else args.rating_max


def _task(args: argparse.Namespace) -> TaskConfig:
    """The task and its options; an option of another task is refused (it would silently do nothing)."""
    given = {"--candidates": args.candidates, "--negatives": args.negatives, "--like-threshold": args.like_threshold}
    applies = {"--candidates": "ranking", "--negatives": "ranking", "--like-threshold": "like"}
    for option, value in given.items():
        if value is not None and applies[option] != args.task:
            raise PrepareError(f"{option} applies to --task {applies[option]} only, not to --task {args.task}")
    label_column = getattr(args, "label_col", None) is not None
    threshold = args.like_threshold
    if args.task == "like" and not label_column and threshold is None:
        threshold = default_like_threshold(args.rating_min, args.rating_max)
    return TaskConfig(
        name=args.task,
        candidates=DEFAULT_CANDIDATES if args.candidates is None else args.candidates,
        negatives=args.negatives or NEGATIVE_MODES[0],
        like_threshold=threshold,
        label_column=label_column,
    )


def _config(args: argparse.Namespace) -> Any:
    from .pipeline import PrepareConfig, SplitConfig

    _resolve_scale(args)
    task = _task(args)
    budgets = TextBudgets(
        review=args.max_review_chars,
        title=args.max_title_chars,
        description=args.max_text_chars,
        features=args.max_text_chars,
        details=args.max_text_chars,
        profile=args.max_profile_chars,
        candidate=args.max_candidate_chars,
    )
    split = SplitConfig(
        method=args.split,
        test_ratio=args.test_ratio,
        val_ratio=args.val_ratio,
        seed=args.seed,
        max_train=args.max_train,
        max_val=args.max_val,
        max_test=args.max_test,
    )
    extra = {}
    if args.source != "imdb":
        extra = {
            "history_len": args.history_len,
            "min_user_history": args.min_user_history,
            "min_item_history": args.min_item_history,
            "min_total_history": args.min_total_history,
            "dedup": args.dedup,
        }
    options = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in sorted(vars(args).items())
        if k not in _NOT_RUN_OPTIONS and not k.startswith("_")
    }
    return PrepareConfig(
        output_dir=args.output_dir,
        name=args.name,
        rating_min=args.rating_min,
        rating_max=args.rating_max,
        split=split,
        budgets=budgets,
        strict=args.strict,
        memory_limit=args.memory_limit,
        threads=args.threads,
        temp_dir=args.temp_dir,
        timings=getattr(args, "timings", False),
        run_options=options,
        task=task,
        **extra,
    )


def source_of(args: argparse.Namespace) -> api.Source:
    """The typed input description of the parsed sub-command."""
    from . import api, sources

    if args.source == "amazon":
        return api.AmazonReviews(reviews=args.reviews, meta=args.meta, cross_item_dedup=args.cross_item_dedup)
    if args.source == "yelp":
        return api.YelpReviews(reviews=args.reviews, business=args.business)
    if args.source == "imdb":
        return api.Exp3rtFile(input=args.input)
    if args.source == "interactions":
        item_cols = sources.parse_item_cols(args.item_cols)
        return api.InteractionsTable(
            input=args.input,
            user_col=args.user_col,
            item_col=args.item_col,
            rating_col=args.rating_col,
            time_col=args.time_col,
            label_col=args.label_col,
            time_unit=args.time_unit,
            text_col=args.text_col,
            item_cols=item_cols,
            format=args.format,
            delimiter=args.delimiter,
            items=args.items,
            items_id_col=args.items_id_col,
            items_cols=None if args.items_cols is None else sources.parse_item_cols(args.items_cols),
        )
    raise PrepareError(f"unknown source {args.source!r}")


def execute(args: argparse.Namespace) -> dict[str, Any]:
    """Run the ``prepare`` sub-command described by ``args`` (:func:`reczero_verl.prepare.api.prepare`); returns the
    stats (also in ``stats.json``).

    Raises :class:`PrepareError` (exit code 2 from the command line) for bad input or options, before the pipeline
    when it can be known before."""
    from . import api

    return api.prepare(source_of(args), _config(args))


def main(args: argparse.Namespace) -> int:
    """Entry point of ``reczero-verl prepare``: 0 on success. Bad input raises :class:`PrepareError`, which
    ``reczero_verl.cli.main`` turns into one line and exit code 2."""
    stats = execute(args)
    summary = {"written": stats["written"], "dropped_total": stats["dropped_total"], "read": stats["read"]}
    empty = stats.get("nothing_written")
    if empty is not None:
        sys.stdout.write(
            f"prepared {args.output_dir}: NOTHING WRITTEN: all {stats['read']} records dropped, mostly as "
            f"{empty['reason']} (first: {', '.join(empty['first']) or '-'}); hint: {empty['hint']}\n"
        )
        return 0
    sys.stdout.write(f"prepared {args.output_dir}: {json.dumps(summary)}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A standalone ``prepare`` parser (what ``reczero-verl prepare`` uses, without the global options)."""
    parser = argparse.ArgumentParser(prog="reczero-verl prepare", description=__doc__.split("\n\n")[0])
    configure_parser(parser)
    return parser


def run_prepare(argv: Sequence[str]) -> dict[str, Any]:
    """A command line in-process: ``run_prepare(["amazon", "--reviews", p, "--output-dir", d, ...])`` -> stats dict
    (for typed arguments use :func:`reczero_verl.prepare.api.prepare`).

    Raises :class:`PrepareError` on bad input (``SystemExit`` on bad options, as argparse does).
    """
    return execute(build_parser().parse_args(list(argv)))
