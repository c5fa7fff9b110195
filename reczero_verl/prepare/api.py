# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The typed Python API of ``reczero-verl prepare``: one input description per raw format, and :func:`prepare`.

::

    from reczero_verl.prepare.api import AmazonReviews, PrepareConfig, prepare

    stats = prepare(AmazonReviews(reviews=Path("Books.json.gz"), meta=Path("meta_Books.json.gz")),
                    PrepareConfig(output_dir=Path("data/books"), name="books"))

The command line only parses its options into these (``reczero_verl/prepare/cli.py``). Errors are
:class:`~reczero_verl.prepare.schema.PrepareError` naming the field (as its command-line option).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reczero_verl.contract import ITEM_FIELDS

from . import checks, pipeline, publish, sources
from .pipeline import PrepareConfig, SplitConfig
from .render import TextBudgets
from .schema import PrepareError
from .tasks import TaskConfig

__all__ = [
    "PrepareConfig",
    "SplitConfig",
    "TaskConfig",
    "TextBudgets",
    "AmazonReviews",
    "YelpReviews",
    "Exp3rtFile",
    "InteractionsTable",
    "Source",
    "prepare",
]

CROSS_ITEM_DEDUP = ("auto", "on", "off")
NO_RATING_COLUMN = "--rating-col is required (an implicit-feedback log: --task like --label-col COLUMN)"
TIME_UNITS = ("auto", "s", "ms", "us", "ns", "iso")
TABLE_FORMATS = ("auto", "csv", "parquet", "jsonl")


def _choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise PrepareError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class AmazonReviews:
    """Amazon Review Data 2014/2018/2023 reviews (JSON lines, .gz ok) and optional item metadata."""

    reviews: Path
    meta: Path | None = None
    #: Drop a review repeated under sibling items: ``auto`` = on for 2014/2018 files, off for 2023.
    cross_item_dedup: str = "auto"
    kind = "amazon"

    def __post_init__(self) -> None:
        _choice(self.cross_item_dedup, CROSS_ITEM_DEDUP, "--cross-item-dedup")


@dataclass(frozen=True)
class YelpReviews:
    """Yelp Open Dataset ``review.json`` and optional ``business.json``."""

    reviews: Path
    business: Path | None = None
    kind = "yelp"


@dataclass(frozen=True)
class Exp3rtFile:
    """An EXP3RT rating-bias file (IMDb ``test_helpful.json``, Amazon-book ``unseen.json``)."""

    input: Path
    kind = "imdb"


@dataclass(frozen=True)
class InteractionsTable:
    """Your own log: a CSV, parquet or JSON-lines table, one interaction a row, and an optional item table.

    ``item_cols`` / ``items_cols`` map contract item fields (:data:`reczero_verl.contract.ITEM_FIELDS`) to columns of
    the log / of ``items`` (``items_cols`` defaults to ``item_cols``)."""

    input: Path
    user_col: str
    item_col: str
    #: ``None`` only for an implicit-feedback log with ``label_col`` (``--task like``).
    rating_col: str | None
    time_col: str
    #: An explicit 0/1 like label (``--task like`` on implicit feedback).
    label_col: str | None = None
    time_unit: str = "auto"
    text_col: str | None = None
    item_cols: Mapping[str, str] = field(default_factory=dict)
    format: str = "auto"
    delimiter: str | None = None
    items: Path | None = None
    items_id_col: str | None = None
    items_cols: Mapping[str, str] | None = None
    kind = "interactions"

    def __post_init__(self) -> None:
        if self.rating_col is None and self.label_col is None:
            raise PrepareError(NO_RATING_COLUMN)
        _choice(self.time_unit, TIME_UNITS, "--time-unit")
        _choice(self.format, TABLE_FORMATS, "--format")
        for option, cols in (("--item-cols", self.item_cols), ("--items-cols", self.items_cols or {})):
            unknown = sorted(set(cols) - set(ITEM_FIELDS))
            if unknown:
                raise PrepareError(f"{option}: {', '.join(unknown)} not among the fields {', '.join(ITEM_FIELDS)}")


Source = AmazonReviews | YelpReviews | Exp3rtFile | InteractionsTable


def _plain(value: Any) -> Any:
    """``value`` as JSON-friendly data (paths as strings, dataclasses and mappings as dicts)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def run_options(source: Source, config: PrepareConfig) -> dict[str, Any]:
    """What a run made from Python was asked for (stats.json ``run.options``): the source and every option that
    shapes the output (not where or how fast it runs)."""
    where = {"output_dir", "memory_limit", "threads", "temp_dir", "timings", "chunk_rows", "run_options"}
    options = {"source": source.kind, **_plain(source)}
    options.update({k: v for k, v in _plain(config).items() if k not in where})
    return options


def prepare(source: Source, config: PrepareConfig) -> dict[str, Any]:
    """Prepare ``source`` into ``config.output_dir`` (train/test[/val].parquet + stats.json, published as one unit);
    return the stats. Output folder, temp folder and memory limit are checked before any input is read."""
    publish.check_output_dir(config.output_dir)
    checks.check_temp_dir(config.temp_dir)
    checks.check_memory_limit(config.memory_limit)
    labelled = isinstance(source, InteractionsTable) and source.label_col is not None
    if labelled != config.task.label_column:
        raise PrepareError(
            "--label-col: a like task with labels from a column needs both InteractionsTable.label_col and "
            "TaskConfig(label_column=True)"
        )
    if not config.run_options:
        config = replace(config, run_options=run_options(source, config))
    if isinstance(source, AmazonReviews):
        return _amazon(source, config)
    if isinstance(source, YelpReviews):
        reviews = checks.check_input_file(source.reviews, "--reviews")
        business_path = None if source.business is None else checks.check_input_file(source.business, "--business")
        business = None if business_path is None else sources.yelp_business(business_path)
        data = replace(
            sources.yelp_reviews(reviews), items=business, inputs={"reviews": reviews, "business": business_path}
        )
        return pipeline.prepare_source(data, config)
    if isinstance(source, Exp3rtFile):
        return pipeline.prepare_source(sources.exp3rt_source(checks.check_input_file(source.input, "--input")), config)
    if isinstance(source, InteractionsTable):
        return _interactions(source, config)
    raise PrepareError(f"unknown source {source!r}")


def _amazon(source: AmazonReviews, config: PrepareConfig) -> dict[str, Any]:
    reviews = checks.check_input_file(source.reviews, "--reviews")
    meta_path = None if source.meta is None else checks.check_input_file(source.meta, "--meta")
    found = sources.amazon_reviews(reviews)
    cross = source.cross_item_dedup == "on" or (source.cross_item_dedup == "auto" and found.kind == "amazon2018")
    config = replace(config, cross_item_dedup=cross)
    meta = None if meta_path is None else sources.amazon_meta(meta_path)
    data = replace(found, items=meta, inputs={"reviews": reviews, "meta": meta_path})
    return pipeline.prepare_source(data, config)


def _interactions(source: InteractionsTable, config: PrepareConfig) -> dict[str, Any]:
    """Check the files and their columns, then run the pipeline."""
    path = checks.check_input_file(source.input, "--input")
    item_cols = dict(source.item_cols)
    required = {"--user-col": source.user_col, "--item-col": source.item_col, "--time-col": source.time_col}
    for option, column in (("--rating-col", source.rating_col), ("--label-col", source.label_col)):
        if column is not None:
            required[option] = column
    optional = {"--text-col": source.text_col, **{f"--item-cols {f}=": c for f, c in item_cols.items()}}
    sources.check_columns(path, source.format, required, optional, source.delimiter)
    table = sources.interactions_table(
        path,
        fmt=source.format,
        user_col=source.user_col,
        item_col=source.item_col,
        rating_col=source.rating_col,
        time_col=source.time_col,
        text_col=source.text_col,
        item_cols=item_cols,
        time_unit=source.time_unit,
        delimiter=source.delimiter,
        label_col=source.label_col,
    )
    items = None
    items_path = None
    if source.items is not None:
        items_path = checks.check_input_file(source.items, "--items")
        items_cols = dict(source.items_cols) if source.items_cols is not None else item_cols
        if not items_cols:
            raise PrepareError("--items needs --items-cols (or --item-cols) FIELD=COLUMN entries")
        id_col = source.items_id_col or source.item_col
        sources.check_columns(
            items_path,
            "auto",
            {"--items-id-col": id_col, **{f"--items-cols {f}=": c for f, c in items_cols.items()}},
            {},
            source.delimiter,
        )
        items = sources.table_items(items_path, id_col, items_cols, source.delimiter)
    data = replace(table, items=items, inputs={"input": path, "items": items_path})
    return pipeline.prepare_source(data, config)
