# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Readers of the raw formats: each turns a dump into SQL relations that the DuckDB engine (:mod:`.pipeline`) scans.

Why SQL and not Python: the dumps are large (Amazon Books 2018: 27 M reviews), so the review files are never held in
Python memory; DuckDB scans them (plain or ``.gz``) out of core. Python only parses the metadata lines of the items the
samples need, streamed item by item into a DuckDB table (:class:`JsonLinesMeta`, :class:`ItemSink`), and the small
EXP3RT JSON arrays (:func:`read_exp3rt`).

An interaction relation has the columns ``line`` (BIGINT, 1-based position of the record; implicit, the scan order,
when :attr:`Relation.rowid_lines` is set), ``malformed`` (BOOLEAN),
``user_id``, ``item_id``, ``rating``, ``time``, ``review``, ``review_alt`` (the text shown when ``review`` is empty:
the Amazon summary / review title) and ``review_key`` (other fields a copy of the review repeats, for the cross-item
dedup) (all VARCHAR, validated later by the engine) and, for ``prepare interactions``, item text columns named
``attr_<field>``.

JSON lines are read twice at most: first with DuckDB's ``read_json`` and explicit columns (fast), and, only when DuckDB
rejects a line as malformed, again as raw text lines with ``json_valid`` per line, so that every malformed line is
counted and reported with its line number instead of being silently skipped (``ignore_errors`` would hide them). A
line that is not valid UTF-8 costs that line only: the raw-lines reader stores it in a rejects table, and it is
counted as ``invalid_utf8`` at its file line.

Every path given to DuckDB goes through :func:`sql_path`: a path names one file, never a pattern.
"""

from __future__ import annotations

import ast
import bisect
import gzip
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reczero_verl.contract import ITEM_FIELDS, flatten_text
from reczero_verl.errors import BadInputError

logger = logging.getLogger(__name__)


#: Longest line DuckDB accepts when reading raw text lines or JSON records (bytes).
MAX_LINE_BYTES = 64 * 1024 * 1024
#: ``read_csv``'s buffer. Its default, 16 x ``max_line_size`` (1 GiB here), is one allocation that fails under a
#: ``--memory-limit`` of 2GB or less (DuckDB's share is below 1 GiB); two longest lines' worth is enough.
CSV_BUFFER_BYTES = 2 * MAX_LINE_BYTES


#: Characters DuckDB would expand as a file pattern; a path holding them is escaped (see :func:`sql_path`).
GLOB_CHARS = "*?["


class PrepareError(BadInputError):
    """Bad input or options; the message names the file, line or field at fault and the fix (exit code 2)."""


def sql_str(value: str | Path) -> str:
    """Quote ``value`` as a SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """Quote ``name`` as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_path(path: str | Path) -> str:
    """``path`` as a SQL string literal that DuckDB reads as exactly that one file.

    DuckDB expands ``*``, ``?`` and ``[...]`` in file names (``rev*.json`` would read every matching file) and ``~``
    at the start; the path is made absolute and each pattern character is written as a one-character class
    (``[*]``), which matches only itself."""
    text = os.path.abspath(path)
    return sql_str("".join(f"[{c}]" if c in GLOB_CHARS else c for c in text))


def open_text(path: Path, errors: str = "replace"):
    """Open a text file, transparently gunzipping ``*.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors=errors)
    return open(path, encoding="utf-8", errors=errors)


def iter_nonblank_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for the non-blank lines of ``path`` (1-based); a damaged ``.gz`` is a
    :class:`PrepareError`."""
    try:
        with open_text(path) as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    yield n, line
    except (OSError, EOFError, zlib.error) as exc:
        raise PrepareError(
            f"{path}: cannot be read to its end ({exc}): if it is a .gz file, download or compress it again"
        ) from exc


def record_line_numbers(path: Path, records: Sequence[int]) -> dict[int, int]:
    """Map 1-based record ordinals (non-blank lines, as ``read_json`` counts them) to file line numbers.

    Used only for the few records that are reported in ``stats.json`` or in a ``--strict`` error, so the Python scan
    stops at the largest ordinal asked for.
    """
    wanted = set(records)
    out: dict[int, int] = {}
    if not wanted:
        return out
    last = max(wanted)
    for ordinal, (n, _) in enumerate(iter_nonblank_lines(path), start=1):
        if ordinal in wanted:
            out[ordinal] = n
        if ordinal >= last:
            break
    return out


def peek_json_objects(path: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The first ``limit`` JSON objects among the first lines of a JSON-lines file (malformed lines skipped)."""
    out: list[dict[str, Any]] = []
    for n, (_, line) in enumerate(iter_nonblank_lines(path)):
        if n >= limit * 5 or len(out) >= limit:
            break
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


#: SQL: the raw line ``text`` is a JSON object (CASE, not AND: DuckDB evaluates both sides of AND).
_IS_OBJECT = "CASE WHEN json_valid(text) THEN json_type(text) = 'OBJECT' ELSE false END"


def raw_lines_sql(path: Path, rejects: str) -> str:
    """SQL relation ``(line BIGINT, text VARCHAR)`` of every line of a text file, blank lines included (as NULL).

    ``read_csv`` with a delimiter that valid JSON never contains unescaped and no quoting returns each line whole;
    ``row_number() OVER ()`` follows the file order (DuckDB preserves insertion order). A line that is not valid UTF-8
    (or longer than :data:`MAX_LINE_BYTES`) is left out and recorded in the table ``rejects`` (see
    :func:`reject_lines`), so it costs that one line; ``line`` then counts the lines read, and
    :func:`renumber_after_rejects` turns it back into the file line.
    """
    return (
        f"(SELECT row_number() OVER () AS line, text FROM read_csv({sql_path(path)}, columns={{'text': 'VARCHAR'}}, "
        "delim='\\x01', quote='', escape='', header=false, auto_detect=false, "
        f"max_line_size={MAX_LINE_BYTES}, buffer_size={CSV_BUFFER_BYTES}, ignore_errors=true, store_rejects=true, "
        f"rejects_table={sql_str(rejects)}, "
        f"rejects_scan={sql_str(rejects + '_scan')}))"
    )


def drop_rejects(con: Any, rejects: str) -> None:
    """Drop the reject tables of a scan (so a rerun of the scan starts from none)."""
    con.execute(f"DROP TABLE IF EXISTS {sql_ident(rejects)}")
    con.execute(f"DROP TABLE IF EXISTS {sql_ident(rejects + '_scan')}")


def reject_lines(con: Any, rejects: str) -> list[tuple[int, str]]:
    """``(file line, reason)`` of the lines a scan with ``store_rejects`` left out, in file order: ``invalid_utf8``
    for bytes that are not UTF-8, else ``malformed``; empty when the scan rejected nothing."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [rejects]
    ).fetchone()[0]
    if not exists:
        return []
    rows = con.execute(
        f"SELECT line, bool_or(error_type = 'INVALID ENCODING') FROM {sql_ident(rejects)} GROUP BY line ORDER BY line"
    ).fetchall()
    return [(int(line), "invalid_utf8" if bad_utf8 else "malformed") for line, bad_utf8 in rows]


def renumber_after_rejects(con: Any, table: str, rejects: str) -> None:
    """Turn ``line`` of ``table`` (the ordinal among the lines a scan kept) into the file line, given the lines the
    scan rejected (table ``rejects``): the kept line ``k`` follows the ``j``-th rejected line ``r_j`` exactly when
    ``r_j - j < k``, so ``k`` moves by the count of such ``j`` (an ASOF join on ``r_j - j``). Rebuilds ``table``, so
    call it only when the scan rejected lines."""
    t, g = sql_ident(table), sql_ident(table + "_gaps")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {g} AS SELECT gap, max(c) AS c FROM (SELECT line - row_number() OVER w AS gap, "
        f"row_number() OVER w AS c FROM (SELECT DISTINCT line FROM {sql_ident(rejects)}) WINDOW w AS (ORDER BY line)) "
        "GROUP BY gap"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT x.* REPLACE (x.line + coalesce(y.c, 0) AS line) "
        f"FROM {t} x ASOF LEFT JOIN {g} y ON x.line > y.gap"
    )
    con.execute(f"DROP TABLE {g}")


@dataclass(frozen=True)
class Relation:
    """One way of scanning an interaction file.

    ``sql`` yields the interaction columns (see the module docstring). ``positions`` says what ``line`` counts:
    ``"line"`` (exact file line), ``"record"`` (ordinal among non-blank lines: resolved to lines on demand) or
    ``"row"`` (data row of a table file). ``rejects`` names the table where DuckDB stores the lines it could not read
    (bytes that are not UTF-8, CSV rows that do not parse): they are counted by file line. ``renumber``: ``line``
    counts the lines read, so it is shifted past the rejected lines (:func:`renumber_after_rejects`).

    ``rowid_lines``: ``sql`` has no ``line`` column; a row's ``line`` is its 1-based position in the scan. The engine
    then materialises the scan into a table and takes ``rowid + 1`` (DuckDB keeps insertion order, its default), which
    at 1 M reviews costs half of numbering the scan with ``row_number() OVER ()``: that window buffers every column of
    every row, review text included, in one ordered pass. :meth:`numbered_sql` adds the column for other readers.
    """

    sql: str
    positions: str = "line"
    rejects: str | None = None
    renumber: bool = False
    rowid_lines: bool = False

    def numbered_sql(self) -> str:
        """``sql`` with its ``line`` column, numbering the rows in scan order when ``rowid_lines`` is set."""
        if not self.rowid_lines:
            return self.sql
        return f"SELECT row_number() OVER () AS line, * FROM ({self.sql})"


@dataclass(frozen=True)
class InteractionSource:
    """A raw interaction file and how to read it.

    ``relations`` are tried in order: the next one is used only when DuckDB rejects the input of the previous one
    (malformed JSON, bytes that are not UTF-8). ``time_unit`` is one of :data:`TIME_UNITS` (``auto``: each record's
    own unit, see :func:`reczero_verl.prepare.pipeline.time_sql`). ``has_label``: the relations have a ``label``
    column (an explicit 0/1 like label, ``prepare interactions --label-col``); ``rating_from_label``: the ratings are
    those labels (an implicit-feedback log without a rating column).
    """

    path: Path
    kind: str
    relations: tuple[Relation, ...]
    time_unit: str
    item_attrs: tuple[str, ...] = ()
    has_label: bool = False
    rating_from_label: bool = False


def json_lines_relations(
    path: Path, keys: Sequence[str], select: Mapping[str, str], rejects: str = "rejects_input"
) -> tuple[Relation, ...]:
    """Fast and exact relations over a JSON-lines file.

    ``keys`` are the top-level JSON keys to read (as VARCHAR: nested values come back as JSON text); ``select`` maps
    each output column to a SQL expression over those keys (quoted identifiers). The exact relation stores the lines
    it cannot read as text in table ``rejects``.
    """
    cols = ", ".join(f"{sql_str(k)}: 'VARCHAR'" for k in keys)
    outputs = ", ".join(f"{expr} AS {sql_ident(name)}" for name, expr in select.items())
    fast = (
        f"SELECT false AS malformed, {outputs} "
        f"FROM read_json({sql_path(path)}, format='newline_delimited', columns={{{cols}}}, "
        f"maximum_object_size={MAX_LINE_BYTES})"
    )
    paths = "[" + ", ".join(sql_str("$." + json.dumps(k)) for k in keys) + "]"
    extracted = ", ".join(f"x[{i + 1}] AS {sql_ident(k)}" for i, k in enumerate(keys))
    exact = (
        f"SELECT line, malformed, {outputs} FROM (SELECT line, NOT ok AS malformed, {extracted} FROM ("
        f"SELECT line, ok, CASE WHEN ok THEN json_extract_string(text, {paths}) END AS x FROM ("
        f"SELECT line, text, {_IS_OBJECT} AS ok "
        f"FROM {raw_lines_sql(path, rejects)} WHERE text IS NOT NULL AND trim(text) <> '')))"
    )
    return (
        Relation(fast, positions="record", rowid_lines=True),
        Relation(exact, positions="line", rejects=rejects, renumber=True),
    )


def _first_text(*cols: str) -> str:
    """SQL: the first of ``cols`` that is a non-empty string."""
    return "coalesce(" + ", ".join(f"nullif(trim({sql_ident(c)}), '')" for c in cols) + ")"


def amazon_flavour(path: Path) -> str:
    """Detect the Amazon review format from the first records: ``"2018"`` (2014 and 2018 dumps) or ``"2023"``."""
    for obj in peek_json_objects(path):
        if "reviewerID" in obj or "unixReviewTime" in obj:
            return "2018"
        if "user_id" in obj and ("parent_asin" in obj or "asin" in obj):
            return "2023"
    raise PrepareError(
        f"{path}: not an Amazon review file: expected JSON lines with reviewerID/asin/overall/unixReviewTime "
        "(2014, 2018) or user_id/parent_asin/rating/timestamp (2023) in its first records"
    )


def _review_key(*cols: str) -> str:
    """SQL: the other fields that a copy of a review under a sibling item repeats (verified flag, images), so that
    two different reviews with the same short text ("Love it!") on the same day are not taken for copies."""
    return "concat_ws('|', " + ", ".join(f"coalesce({sql_ident(c)}, '')" for c in cols) + ")"


def amazon_reviews(path: Path) -> InteractionSource:
    """Amazon reviews, 2014/2018 (seconds) or 2023 (milliseconds) JSON lines. The review text falls back to the
    summary (2018) or review title (2023) when the text is missing.

    The time unit is decided per record (``auto``), not per file: dumps that mix seconds and milliseconds exist, and
    one unit for all would put the other records tens of thousands of years away (into the test set, with histories
    holding later interactions)."""
    flavour = amazon_flavour(path)
    if flavour == "2018":
        keys = ["reviewerID", "asin", "overall", "unixReviewTime", "reviewText", "summary", "verified", "image"]
        select = {
            "user_id": sql_ident("reviewerID"),
            "item_id": sql_ident("asin"),
            "rating": sql_ident("overall"),
            "time": sql_ident("unixReviewTime"),
            "review": sql_ident("reviewText"),
            "review_alt": sql_ident("summary"),
            "review_key": _review_key("verified", "image"),
        }
    else:
        keys = ["user_id", "parent_asin", "asin", "rating", "timestamp", "text", "title", "verified_purchase", "images"]
        select = {
            "user_id": sql_ident("user_id"),
            "item_id": _first_text("parent_asin", "asin"),
            "rating": sql_ident("rating"),
            "time": sql_ident("timestamp"),
            "review": sql_ident("text"),
            "review_alt": sql_ident("title"),
            "review_key": _review_key("verified_purchase", "images"),
        }
    return InteractionSource(path, f"amazon{flavour}", json_lines_relations(path, keys, select), "auto")


def yelp_reviews(path: Path) -> InteractionSource:
    """Yelp Open Dataset ``review.json``: ``user_id, business_id, stars, date ('YYYY-MM-DD HH:MM:SS'), text``."""
    keys = ["user_id", "business_id", "stars", "date", "text"]
    select = {
        "user_id": sql_ident("user_id"),
        "item_id": sql_ident("business_id"),
        "rating": sql_ident("stars"),
        "time": sql_ident("date"),
        "review": sql_ident("text"),
        "review_alt": "NULL::VARCHAR",
        "review_key": "NULL::VARCHAR",
    }
    return InteractionSource(path, "yelp", json_lines_relations(path, keys, select), "iso")


def table_format(path: Path, fmt: str = "auto") -> str:
    """``csv``, ``parquet`` or ``jsonl`` from ``fmt`` or the file name."""
    if fmt != "auto":
        return fmt
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    raise PrepareError(f"{path}: cannot tell the format from the name; pass --format csv|parquet|jsonl")


def table_relations(
    path: Path,
    fmt: str,
    columns: Mapping[str, str | None],
    delimiter: str | None = None,
    rejects: str = "rejects_input",
) -> tuple[Relation, ...]:
    """Relations over a user table file (CSV, parquet or JSON lines); ``columns`` maps output -> source column.

    Every value is read as VARCHAR (typed parquet columns are cast) and validated by the engine, so a bad value is a
    counted drop, never a crash; CSV rows that do not parse (or are not UTF-8) go to table ``rejects``.
    """
    fmt = table_format(path, fmt)
    wanted = {name: col for name, col in columns.items() if col}
    if fmt == "jsonl":
        keys = list(dict.fromkeys(wanted.values()))
        select = {name: sql_ident(col) for name, col in wanted.items()}
        for name in columns:
            select.setdefault(name, "NULL::VARCHAR")
        return json_lines_relations(path, keys, select, rejects)
    outputs = ", ".join(
        f"CAST({sql_ident(col)} AS VARCHAR) AS {sql_ident(name)}" if col else f"NULL::VARCHAR AS {sql_ident(name)}"
        for name, col in columns.items()
    )
    if fmt == "parquet":
        sql = (
            f"SELECT file_row_number + 1 AS line, false AS malformed, {outputs} "
            f"FROM read_parquet({sql_path(path)}, file_row_number=true)"
        )
        return (Relation(sql, positions="row"),)
    sql = (
        f"SELECT false AS malformed, {outputs} FROM read_csv({sql_path(path)}, {_csv_options(delimiter)}, "
        f"ignore_errors=true, store_rejects=true, rejects_table={sql_str(rejects)}, "
        f"rejects_scan={sql_str(rejects + '_scan')}, max_line_size={MAX_LINE_BYTES}, buffer_size={CSV_BUFFER_BYTES})"
    )
    return (Relation(sql, positions="row", rejects=rejects, rowid_lines=True),)


def _csv_options(delimiter: str | None) -> str:
    """The ``read_csv`` options of a user table (header row, every value as text, sniffed or given delimiter)."""
    return "header=true, all_varchar=true" + (f", delim={sql_str(delimiter)}" if delimiter else "")


#: How many JSON-lines records :func:`table_columns` looks at to learn the keys.
COLUMN_PEEK_RECORDS = 1000


def table_columns(path: Path, fmt: str, delimiter: str | None = None) -> tuple[list[str], bool]:
    """The column names of a user table file and whether DuckDB matches them ignoring case (CSV, parquet; JSON keys
    are matched exactly). For JSON lines: the keys of the first :data:`COLUMN_PEEK_RECORDS` objects."""
    import duckdb

    fmt = table_format(path, fmt)
    if fmt == "jsonl":
        keys: dict[str, None] = {}
        for obj in peek_json_objects(path, limit=COLUMN_PEEK_RECORDS):
            keys.update(dict.fromkeys(obj))
        return list(keys), False
    reader = (
        f"read_parquet({sql_path(path)})"
        if fmt == "parquet"
        else f"read_csv({sql_path(path)}, {_csv_options(delimiter)}, ignore_errors=true)"
    )
    con = duckdb.connect(":memory:")
    try:
        return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()], True
    except duckdb.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PrepareError(f"{path}: cannot be read as {fmt} ({first}): check --format and the file") from exc
    finally:
        con.close()


def check_columns(
    path: Path,
    fmt: str,
    required: Mapping[str, str],
    optional: Mapping[str, str | None],
    delimiter: str | None = None,
) -> None:
    """Refuse (:class:`PrepareError`) a ``required`` column (option -> column name) that the file does not have, and
    an ``optional`` one that a table file does not have; for JSON lines a missing optional key only warns (it may
    appear after the first records)."""
    columns, ignore_case = table_columns(path, fmt, delimiter)
    known = {c.lower() for c in columns} if ignore_case else set(columns)
    shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "") if columns else "none found"
    where = "" if ignore_case else f" (keys of its first {COLUMN_PEEK_RECORDS} records)"
    for option, col in [*required.items(), *optional.items()]:
        if col is None or (col.lower() if ignore_case else col) in known:
            continue
        message = f"{option} {col!r}: {path} has no such column; its columns{where}: {shown}"
        if option in required or ignore_case:
            hint = "; pass --delimiter if the columns look merged" if table_format(path, fmt) == "csv" else ""
            raise PrepareError(message + hint)
        logger.warning("%s; the field is empty unless later records have it", message)


def interactions_table(
    path: Path,
    *,
    fmt: str,
    user_col: str,
    item_col: str,
    rating_col: str | None,
    time_col: str,
    text_col: str | None,
    item_cols: Mapping[str, str],
    time_unit: str,
    delimiter: str | None = None,
    label_col: str | None = None,
) -> InteractionSource:
    """Your own interaction log; ``item_cols`` maps contract item fields (title, categories, ...) to columns;
    ``label_col`` names an explicit 0/1 like label (``--task like --label-col``), which is also the rating when
    ``rating_col`` is ``None``."""
    if rating_col is None and label_col is None:
        raise PrepareError("--rating-col is required (an implicit-feedback log: --task like --label-col COLUMN)")
    columns: dict[str, str | None] = {
        "user_id": user_col,
        "item_id": item_col,
        "rating": rating_col if rating_col is not None else label_col,
        "time": time_col,
        "review": text_col,
        "review_alt": None,
        "review_key": None,
    }
    for fld, col in item_cols.items():
        columns[f"attr_{fld}"] = col
    if label_col is not None:
        columns["label"] = label_col
    return InteractionSource(
        path,
        f"interactions-{table_format(path, fmt)}",
        table_relations(path, fmt, columns, delimiter),
        time_unit,
        item_attrs=tuple(item_cols),
        has_label=label_col is not None,
        rating_from_label=rating_col is None,
    )


def parse_item_cols(specs: Sequence[str]) -> dict[str, str]:
    """Parse ``--item-cols`` entries ``FIELD=COLUMN`` (or ``COLUMN`` when it is itself a field name)."""
    out: dict[str, str] = {}
    for spec in specs:
        fld, sep, col = spec.partition("=")
        if not sep:
            col = fld
        fld, col = fld.strip(), col.strip()
        if fld not in ITEM_FIELDS:
            raise PrepareError(f"--item-cols {spec!r}: field must be one of {', '.join(ITEM_FIELDS)}")
        if not col:
            raise PrepareError(f"--item-cols {spec!r}: empty column name")
        out[fld] = col
    return out


# ----------------------------------------------------------------------------------------------------------------
# Item metadata
# ----------------------------------------------------------------------------------------------------------------


def _details(record: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    """``details`` text from several metadata keys (a ``details`` dict plus price and the like)."""
    parts = []
    for key in keys:
        text = flatten_text(record.get(key))
        if text and text.lower() not in ("none", "null", "nan"):
            parts.append(text if key == "details" else f"{key}: {text}")
    return "; ".join(parts) or None


def amazon_item(record: Mapping[str, Any], title_only: bool = False) -> dict[str, str | None]:
    """Contract item fields from one Amazon metadata record (2014 literal, 2018 or 2023 JSON). Categories fall back
    to the main category; a ``price`` of ``"None"`` (2023) or ``""`` counts as missing. ``title_only``: just
    ``{"title": ...}`` (all a user-history entry shows; the long fields cost most of the flattening)."""
    title = flatten_text(record.get("title"))
    if title_only:
        return {"title": title}
    categories = flatten_text(record.get("categories", record.get("category")))
    return {
        "title": title,
        "categories": categories or flatten_text(record.get("main_category", record.get("main_cat"))),
        "brand": flatten_text(record.get("brand", record.get("store"))),
        "description": flatten_text(record.get("description"), sep=" "),
        "features": flatten_text(record.get("features", record.get("feature"))),
        "details": _details(record, ("details", "price")),
    }


def yelp_item(record: Mapping[str, Any], title_only: bool = False) -> dict[str, str | None]:
    """Contract item fields from a Yelp ``business.json`` record. The business's overall ``stars`` and
    ``review_count`` are left out on purpose: they summarise reviews later than the target (a leak). ``title_only``:
    just ``{"title": ...}``, as :func:`amazon_item`."""
    title = flatten_text(record.get("name"))
    if title_only:
        return {"title": title}
    location = ", ".join(t for k in ("address", "city", "state") if (t := flatten_text(record.get(k))))
    return {
        "title": title,
        "categories": flatten_text(record.get("categories")),
        "brand": None,
        "description": location or None,
        "features": None,
        "details": flatten_text(record.get("attributes")),
    }


def meta_format(path: Path) -> str:
    """``json`` (2018/2023 metadata, Yelp) or ``python`` (2014 metadata: one Python dict literal a line)."""
    for n, (_, line) in enumerate(iter_nonblank_lines(path)):
        if n >= 100:
            break
        try:
            if isinstance(json.loads(line), dict):
                return "json"
        except ValueError:
            pass
        try:
            if isinstance(ast.literal_eval(line.strip()), dict):
                return "python"
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    raise PrepareError(f"{path}: neither JSON lines nor Python dict literals in its first lines")


@dataclass
class MetaStats:
    """What reading a metadata file found (reported under ``meta`` in ``stats.json``).

    ``malformed`` counts the lines that are not JSON objects (JSON metadata) or carry no recognisable item id (2014
    literals), plus the needed lines that do not parse; a metadata line is parsed only when its item is needed.
    """

    path: str
    format: str
    malformed: int = 0
    malformed_first: list[str] = field(default_factory=list)
    items_needed: int = 0
    items_found: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "malformed": self.malformed,
            "malformed_first": self.malformed_first,
            "items_needed": self.items_needed,
            "items_found": self.items_found,
        }


#: Items parsed per batch before they are appended to the DuckDB table of item texts.
ITEM_BATCH = 10_000
#: Raw lines (item rows) fetched from DuckDB at a time while item texts are loaded.
_FETCH_ROWS = 8_192


class ItemSink:
    """Collects item text records (``item_id`` and :data:`ITEM_FIELDS`; missing fields ``None``) into a parquet file
    in DuckDB's temp folder, :data:`ITEM_BATCH` at a time, and loads it as the DuckDB table ``table`` on
    :meth:`close`: the items of a dump never sit in Python memory all at once, and nothing is written into DuckDB
    while a streamed result is still being read on the same connection."""

    def __init__(self, con: Any, table: str) -> None:
        import tempfile

        import pyarrow as pa

        self.con, self.table, self.count = con, table, 0
        self.schema = pa.schema([(f, pa.string()) for f in ("item_id", *ITEM_FIELDS)])
        folder = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0] or None
        fd, name = tempfile.mkstemp(prefix=f"{table}-", suffix=".parquet", dir=folder)
        os.close(fd)
        self.path = Path(name)
        self._writer: Any = None
        self._batch: list[Mapping[str, Any]] = []

    def add(self, item: Mapping[str, Any]) -> None:
        self._batch.append(item)
        self.count += 1
        if len(self._batch) >= ITEM_BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        columns = {f: pa.array([it.get(f) for it in self._batch], pa.string()) for f in self.schema.names}
        self._writer.write_table(pa.table(columns, schema=self.schema))
        self._batch.clear()

    def close(self) -> None:
        """Create the table (empty when no item was added) and delete the file."""
        try:
            self._flush()
            self._writer.close()
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {sql_ident(self.table)} AS "
                f"SELECT * FROM read_parquet({sql_path(self.path)})"
            )
        finally:
            self.path.unlink(missing_ok=True)


class _BadLines:
    """Counts bad lines and keeps the ``report`` smallest line numbers (bounded memory, any order of arrival)."""

    def __init__(self, report: int, lines: Sequence[int] = ()) -> None:
        self.report, self.count, self.first = report, 0, []
        for line in lines:
            self.add(line)

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.first) < self.report or (self.first and line < self.first[-1]):
            bisect.insort(self.first, int(line))
            del self.first[self.report :]


def stream_batches(con: Any, sql: str, rows: int) -> Iterator[Any]:
    """The result of ``sql`` as arrow record batches of about ``rows`` rows, streamed by DuckDB (``execute`` would
    hold the whole result). No other statement may run on ``con`` until the batches are read."""
    complete = getattr(con, "complete", None)
    if complete is not None:  # DuckDB 2: a result of execute() not read to its end blocks the connection
        complete()
    relation = con.sql(sql)
    reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader  # DuckDB 2 / 1.x
    yield from reader(rows)


def _stream_rows(con: Any, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` as tuples, fetched :data:`_FETCH_ROWS` at a time (DuckDB streams the result)."""
    for batch in stream_batches(con, sql, _FETCH_ROWS):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


@dataclass(frozen=True)
class JsonLinesMeta:
    """Item metadata in JSON lines (or 2014 Python literals), one record an item, parsed in Python only for the
    items the samples need; ``to_item(record, title_only=...)`` turns a record into contract fields (only the title
    for an item that is no sampled target, shown in user histories only)."""

    path: Path
    id_keys: tuple[str, ...]
    to_item: Callable[..., dict[str, str | None]]

    def load_into(self, con: Any, needed_table: str, out_table: str, report: int) -> MetaStats:
        """Create ``out_table`` (:class:`ItemSink` columns) with the items whose id is in ``needed_table(item_id,
        target)``: the first record of each id that parses, in file order; all fields for the items with ``target``
        set, only the title for the others. The needed lines are streamed item by item (DuckDB sorts them by item
        and line), so memory does not grow with the number of items."""
        fmt = meta_format(self.path)
        stats = MetaStats(str(self.path), fmt)
        rejects = "rejects_meta"
        drop_rejects(con, rejects)
        raw = raw_lines_sql(self.path, rejects)
        if fmt == "json":
            # one json_extract_string with a list of paths: one parse of the line for all the id keys
            paths = "[" + ", ".join(sql_str("$." + json.dumps(k)) for k in self.id_keys) + "]"
            extracted = f"CASE WHEN ok THEN json_extract_string(text, {paths}) END"
            ids = ", ".join(f"nullif(x[{i + 1}], '')" for i in range(len(self.id_keys)))
            id_expr = f"coalesce({ids})"
            valid = _IS_OBJECT
        else:
            keys = "|".join(re.escape(k) for k in self.id_keys)
            pattern = rf"""['"]({keys})['"]\s*:\s*['"]([^'"]+)['"]"""
            extracted = "NULL"
            id_expr = f"nullif(regexp_extract(text, {sql_str(pattern)}, 2), '')"
            valid = "true"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE meta_hits AS SELECT line, item_id, text, ok FROM ("
            f"SELECT line, text, ok, {id_expr} AS item_id FROM (SELECT line, text, ok, {extracted} AS x FROM ("
            f"SELECT line, text, {valid} AS ok FROM {raw} WHERE text IS NOT NULL AND trim(text) <> ''))) "
            f"WHERE NOT ok OR item_id IS NULL OR item_id IN (SELECT item_id FROM {needed_table})"
        )
        rejected = reject_lines(con, rejects)
        if rejected:
            renumber_after_rejects(con, "meta_hits", rejects)
        stats.items_needed = con.execute(f"SELECT count(*) FROM {needed_table}").fetchone()[0]
        bad = _BadLines(report, [line for line, _ in rejected])  # lines that are not UTF-8 text
        sink = ItemSink(con, out_table)
        last: str | None = None
        for line, item_id, text, ok, target in _stream_rows(
            con,
            f"SELECT m.line, m.item_id, m.text, m.ok, coalesce(n.target, false) FROM meta_hits m "
            f"LEFT JOIN {needed_table} n USING (item_id) ORDER BY m.item_id NULLS LAST, m.line",
        ):
            record = _parse_meta_line(text, fmt) if ok and item_id is not None else None
            if record is None:
                bad.add(line)
                continue
            if item_id != last:  # the first line of the item that parses
                sink.add({"item_id": item_id, **self.to_item(record, title_only=not target)})
                last = item_id
        sink.close()
        con.execute("DROP TABLE meta_hits")
        drop_rejects(con, rejects)
        stats.malformed = bad.count
        stats.malformed_first = [f"{self.path}:{n}" for n in bad.first]
        stats.items_found = sink.count
        if bad.count:
            logger.warning("%s: %d malformed metadata lines, first at %s", self.path, bad.count, stats.malformed_first)
        return stats


def _parse_meta_line(text: str, fmt: str) -> dict[str, Any] | None:
    """One metadata record, or ``None`` when the line does not parse to a dict (never ``eval``)."""
    try:
        record = json.loads(text) if fmt == "json" else ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class TableItems:
    """Item text columns of a user table file (``--items``), keyed by ``id_col``; the first row of an id wins."""

    path: Path
    fmt: str
    id_col: str
    item_cols: Mapping[str, str]
    delimiter: str | None = None

    def load_into(self, con: Any, needed_table: str, out_table: str, report: int) -> MetaStats:
        """Create ``out_table`` (:class:`ItemSink` columns) with the first row of each id of ``needed_table`` in
        the items file, streamed item by item like :meth:`JsonLinesMeta.load_into`."""
        columns: dict[str, str | None] = {"item_id": self.id_col, **dict(self.item_cols.items())}
        rejects = "rejects_items"
        relations = table_relations(self.path, self.fmt, columns, self.delimiter, rejects)
        stats = MetaStats(str(self.path), table_format(self.path, self.fmt))
        stats.items_needed = con.execute(f"SELECT count(*) FROM {needed_table}").fetchone()[0]
        fields = ", ".join(f"{sql_ident(f)}" for f in self.item_cols)
        last_error: Exception | None = None
        for rel in relations:
            drop_rejects(con, rejects)
            try:  # materialised first: a reader that rejects the file fails here, before any item is kept
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE item_rows AS SELECT item_id, {fields}, line, malformed "
                    f"FROM ({rel.numbered_sql()}) WHERE malformed OR item_id IN (SELECT item_id FROM {needed_table})"
                )
                break
            except Exception as exc:  # duckdb rejects malformed JSON: use the next, exact relation
                if not _is_input_error(exc):
                    raise
                last_error = exc
        else:
            raise PrepareError(f"{self.path}: cannot read: {last_error}")
        rejected = reject_lines(con, rejects)
        drop_rejects(con, rejects)
        gaps = [n - j for j, n in enumerate(sorted(n for n, _ in rejected), start=1)]
        renumber = rel.renumber and bool(rejected)  # JSON lines: the rows were numbered among the lines read
        bad = _BadLines(report, [n for n, _ in rejected])
        sink = ItemSink(con, out_table)
        last: str | None = None
        for row in _stream_rows(con, "SELECT * FROM item_rows ORDER BY item_id NULLS LAST, line"):
            item_id, values, line, malformed = row[0], row[1:-2], row[-2], row[-1]
            if malformed:
                bad.add(line + bisect.bisect_left(gaps, line) if renumber else line)
                continue
            if item_id != last:
                fields_of = zip(self.item_cols, values, strict=True)
                sink.add({"item_id": item_id, **{f: flatten_text(v) for f, v in fields_of}})
                last = item_id
        sink.close()
        con.execute("DROP TABLE item_rows")
        stats.malformed = bad.count
        stats.malformed_first = [f"{self.path}:{n}" for n in bad.first]
        stats.items_found = sink.count
        return stats


def _is_input_error(exc: Exception) -> bool:
    """True for DuckDB's errors about the content of an input file (not about our SQL)."""
    import duckdb

    return isinstance(exc, (duckdb.InvalidInputException, duckdb.ConversionException))


# ----------------------------------------------------------------------------------------------------------------
# EXP3RT (IMDb / Amazon-book rating-bias files)
# ----------------------------------------------------------------------------------------------------------------

_AVG_TAIL = re.compile(r"\s*\[Average Rating\]\s*\n?\s*([-+]?\d+(?:\.\d+)?)\s*$")
_DESC_LINE = re.compile(r"^([A-Z][A-Za-z /&-]{0,40}):\s*(.*)$")
#: EXP3RT ``item_description`` keys -> contract fields; other keys (Directors, Cast, Author...) go to ``details``.
_DESC_FIELDS = {"title": "title", "genres": "categories", "categories": "categories", "plot": "description"}


def split_profile(text: Any) -> tuple[str | None, float | None]:
    """Split an EXP3RT profile into (text without the ``[Average Rating]`` tail, that average)."""
    if not isinstance(text, str) or not text.strip():
        return None, None
    m = _AVG_TAIL.search(text)
    if not m:
        return text.strip(), None
    return text[: m.start()].strip() or None, float(m.group(1))


def parse_item_description(text: Any) -> dict[str, str | None]:
    """Contract item fields from an EXP3RT ``item_description`` (``Title: ...\\nGenres: ...\\nPlot: ...``).

    Title -> title, Genres/Categories -> categories, Plot -> description; the other ``Key: value`` lines (Directors,
    Cast, Author...) go to ``details`` as ``Key: value; ...``. A line without a key continues the previous entry.
    """
    item: dict[str, str | None] = dict.fromkeys(ITEM_FIELDS)
    if not isinstance(text, str):
        return item
    details: list[list[str]] = []
    last: tuple[str, Any] = ("field", "description")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _DESC_LINE.match(line)
        if m:
            key, value = m.group(1).strip(), m.group(2).strip()
            fld = _DESC_FIELDS.get(key.lower())
            if fld is not None and item[fld] is None:
                item[fld] = value
                last = ("field", fld)
            else:
                details.append([key, value])
                last = ("detail", len(details) - 1)
        elif last[0] == "field":
            item[last[1]] = f"{item[last[1]] or ''} {line}".strip()
        else:
            details[last[1]][1] = f"{details[last[1]][1]} {line}".strip()
    item["details"] = "; ".join(f"{k}: {v}" for k, v in details if v) or None
    return {k: (v or None) for k, v in item.items()}


def read_exp3rt(path: Path) -> list[Any]:
    """The records of an EXP3RT JSON array file (a JSON-lines file of objects is accepted too).

    Bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``), so that :func:`has_invalid_text` can
    drop just the records holding them."""
    try:
        with open_text(path, errors="surrogateescape") as f:
            text = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise PrepareError(
            f"{path}: cannot be read to its end ({exc}): if it is a .gz file, download or compress it again"
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        stripped = text.lstrip()
        if stripped.startswith("["):
            raise PrepareError(f"{path}:{exc.lineno}: malformed JSON array ({exc.msg})") from exc
        data = None
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        return [data]
    records: list[Any] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append(_Malformed(n))
    return records


@dataclass(frozen=True)
class _Malformed:
    """Placeholder for a malformed line of a JSON-lines EXP3RT file."""

    line: int


def is_malformed(record: Any) -> int | None:
    """Line number of a malformed JSON-lines record, else ``None``."""
    return record.line if isinstance(record, _Malformed) else None


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def has_invalid_text(value: Any) -> bool:
    """True when a string in ``value`` (nested lists and mappings too) holds a lone surrogate: a byte that was not
    UTF-8 (read with ``surrogateescape``) or an unpaired ``\\ud800``-style JSON escape."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_invalid_text(k) or has_invalid_text(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_invalid_text(v) for v in value)
    return False
