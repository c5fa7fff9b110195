# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Source adapters: each raw format becomes one :class:`~.schema.SourceData` that the engine (:mod:`.pipeline`)
consumes without calling back here.

Why SQL and not Python: the dumps are large (Amazon Books 2018: 27 M reviews), so the review files are never held in
Python memory; an adapter describes them as SQL relations in one column schema (see :class:`~.schema.SourceData`) and
DuckDB scans them (plain or ``.gz``) out of core. Item texts come from a loader in :mod:`.items` (metadata lines parsed
only for the items the samples need, with :func:`amazon_item` / :func:`yelp_item`); the small EXP3RT JSON arrays are
parsed here into an Arrow table in the same schema, which the engine reads like any relation (:func:`exp3rt_source`).

JSON lines are read twice at most: first with DuckDB's ``read_json`` and explicit columns (fast), and, only when DuckDB
rejects a line as malformed, again as raw text lines with ``json_valid`` per line, so that every malformed line is
counted and reported with its line number instead of being silently skipped (``ignore_errors`` would hide them). A
line that is not valid UTF-8 costs that line only: the raw-lines reader stores it in a rejects table, and it is
counted as ``invalid_utf8`` at its file line.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reczero_verl.contract import ITEM_FIELDS

from .items import JsonLinesMeta as JsonLinesMeta  # re-exported: the loader of a metadata file
from .items import TableItems
from .items import amazon_item as amazon_item  # re-exported: the item fields of a metadata record
from .items import yelp_item as yelp_item
from .schema import (
    PrepareError as PrepareError,  # re-exported: where callers have always found it
)
from .schema import (
    Relation,
    SourceData,
    iter_nonblank_lines,
    open_text,
)
from .sql import CSV_BUFFER_BYTES, IS_OBJECT, MAX_LINE_BYTES, raw_lines_sql, sql_ident, sql_path, sql_str

logger = logging.getLogger(__name__)


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
        f"SELECT line, text, {IS_OBJECT} AS ok "
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


def amazon_reviews(path: Path) -> SourceData:
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
    return SourceData(path, f"amazon{flavour}", json_lines_relations(path, keys, select), "auto")


def yelp_reviews(path: Path) -> SourceData:
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
    return SourceData(path, "yelp", json_lines_relations(path, keys, select), "iso")


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
) -> SourceData:
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
    return SourceData(
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


def table_items(path: Path, id_col: str, item_cols: Mapping[str, str], delimiter: str | None = None) -> TableItems:
    """The item loader of a user table file (``--items``): its ``id_col`` and ``item_cols`` (contract field -> column),
    in the format its name says."""
    columns: dict[str, str | None] = {"item_id": id_col, **dict(item_cols.items())}
    relations = table_relations(path, "auto", columns, delimiter, "rejects_items")
    return TableItems(path, table_format(path), tuple(item_cols), relations)


# ----------------------------------------------------------------------------------------------------------------
# Item metadata
# ----------------------------------------------------------------------------------------------------------------


def amazon_meta(path: Path) -> JsonLinesMeta:
    """The item loader of an Amazon metadata file (2014 literals, 2018 or 2023 JSON lines), keyed by
    ``parent_asin`` (2023) or ``asin``."""
    return JsonLinesMeta(path, ("parent_asin", "asin"), amazon_item)


def yelp_business(path: Path) -> JsonLinesMeta:
    """The item loader of a Yelp ``business.json``, keyed by ``business_id``."""
    return JsonLinesMeta(path, ("business_id",), yelp_item)


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


def read_exp3rt(path: Path) -> tuple[list[Any], str]:
    """The records of an EXP3RT JSON array file (a JSON-lines file of objects is accepted too), and how their
    positions count (:class:`~.schema.Relation`): ``element`` in an array, ``record`` (non-blank lines) in JSON lines.

    Bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``), so that :func:`has_invalid_text` can
    drop just the records holding them. Lines are split at newlines only (the file is read with universal newlines),
    as :func:`~.schema.record_line_numbers` counts them: ``str.splitlines`` would also cut a JSON string at U+2028."""
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
        return data, "element"
    if isinstance(data, dict):
        return [data], "element"
    records: list[Any] = []
    for line in text.split("\n"):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                records.append(_MALFORMED)
    return records, "record"


#: Placeholder for a malformed line of a JSON-lines EXP3RT file.
_MALFORMED = object()

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


def _text(value: Any) -> str | None:
    """A JSON value as text for the engine to validate (``None`` stays ``None``; ``0`` is ``"0"``)."""
    return None if value is None else str(value)


#: The columns of an EXP3RT record in the engine's schema (:class:`~.schema.SourceData`): ids and score as text.
_EXP3RT_TEXT = ("read_error", "user_id", "item_id", "rating", "user_profile", "item_profile")


def exp3rt_record(record: Any) -> dict[str, Any]:
    """One EXP3RT record in the engine's schema: the read error (not a JSON object, bytes that are not UTF-8), else
    the ids and score as text, the profiles split from their ``[Average Rating]`` tails and the item fields of its
    ``item_description`` as ``attr_<field>``. The ``rationale`` field (written knowing the answer) is never read."""
    if record is _MALFORMED or not isinstance(record, dict):
        return {"read_error": "malformed"}
    if has_invalid_text(record):
        return {"read_error": "invalid_utf8"}
    user_profile, user_avg = split_profile(record.get("user_persona"))
    item_profile, item_avg = split_profile(record.get("item_synopsis"))
    item = parse_item_description(record.get("item_description"))
    return {
        "user_id": _text(record.get("user_id")),
        "item_id": _text(record.get("item_id")),
        "rating": _text(record.get("score")),
        "user_profile": user_profile,
        "item_profile": item_profile,
        "user_avg": user_avg,
        "item_avg": item_avg,
        **{f"attr_{name}": item[name] for name in ITEM_FIELDS},
    }


def exp3rt_source(path: Path, kind: str = "exp3rt") -> SourceData:
    """An EXP3RT rating-bias file (IMDb ``test_helpful.json``, Amazon-book ``unseen.json``), read whole (the files are
    small) into one Arrow table in the engine's schema, with no timestamps and the profiles instead of histories;
    records are counted as ``file:record N`` in a JSON array and by file line in JSON lines."""
    import pyarrow as pa

    records, positions = read_exp3rt(path)
    rows = [exp3rt_record(r) for r in records]
    columns: dict[str, pa.Array] = {"line": pa.array(range(1, len(rows) + 1), pa.int64())}
    for name in (*_EXP3RT_TEXT, *(f"attr_{f}" for f in ITEM_FIELDS)):
        columns[name] = pa.array([r.get(name) for r in rows], pa.string())
    for name in ("user_avg", "item_avg"):
        columns[name] = pa.array([r.get(name) for r in rows], pa.float64())
    table = "exp3rt_records"
    none = ", ".join(f"NULL::VARCHAR AS {c}" for c in ("time", "review", "review_alt", "review_key"))
    sql = f"SELECT *, {none} FROM {table}"
    return SourceData(
        path,
        kind,
        (Relation(sql, positions=positions, read_errors=True),),
        time_unit=None,
        item_attrs=ITEM_FIELDS,
        inputs={"input": path},
        profiles=True,
        tables={table: pa.table(columns)},
    )
