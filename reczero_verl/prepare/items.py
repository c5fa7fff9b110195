# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Item relations: the texts of the items a run shows, in one schema (``item_id`` and
:data:`~reczero_verl.contract.ITEM_FIELDS`), from a metadata file (:class:`JsonLinesMeta`) or an item table
(:class:`TableItems`).

Both are :class:`~.schema.ItemLoader` values that an adapter hands the engine as data (a path, the id keys, a pure
record -> fields function, or relations): the engine asks for the items it needs and gets a DuckDB table, parsed in
Python only for those items and streamed through :class:`ItemSink`, so memory does not grow with the dump.
"""

from __future__ import annotations

import ast
import bisect
import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reczero_verl.contract import ITEM_FIELDS, flatten_text

from .schema import MetaStats, PrepareError, Relation, iter_nonblank_lines
from .sql import (
    IS_OBJECT,
    drop_rejects,
    is_input_error,
    raw_lines_sql,
    reject_lines,
    renumber_after_rejects,
    sql_ident,
    sql_path,
    sql_str,
    stream_rows,
)

logger = logging.getLogger(__name__)


# Item fields of a metadata record (one function per format; called only for the items a run shows)


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


#: Items parsed per batch before they are appended to the DuckDB table of item texts.
ITEM_BATCH = 10_000


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
            valid = IS_OBJECT
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
        for line, item_id, text, ok, target in stream_rows(
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
    """Item text columns of a user table file (``--items``), keyed by its ``item_id`` column; the first row of an id
    wins. ``relations`` (built by :func:`.sources.table_items`) read the columns ``item_id`` and ``item_cols`` (contract
    fields) like an interaction relation; ``format`` is the file's format name for stats.json."""

    path: Path
    format: str
    item_cols: tuple[str, ...]
    relations: tuple[Relation, ...]

    def load_into(self, con: Any, needed_table: str, out_table: str, report: int) -> MetaStats:
        """Create ``out_table`` (:class:`ItemSink` columns) with the first row of each id of ``needed_table`` in
        the items file, streamed item by item like :meth:`JsonLinesMeta.load_into`."""
        stats = MetaStats(str(self.path), self.format)
        stats.items_needed = con.execute(f"SELECT count(*) FROM {needed_table}").fetchone()[0]
        fields = ", ".join(f"{sql_ident(f)}" for f in self.item_cols)
        last_error: Exception | None = None
        for rel in self.relations:
            if rel.rejects:
                drop_rejects(con, rel.rejects)
            try:  # materialised first: a reader that rejects the file fails here, before any item is kept
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE item_rows AS SELECT item_id, {fields}, line, malformed "
                    f"FROM ({rel.numbered_sql()}) WHERE malformed OR item_id IN (SELECT item_id FROM {needed_table})"
                )
                break
            except Exception as exc:  # duckdb rejects malformed JSON: use the next, exact relation
                if not is_input_error(exc):
                    raise
                last_error = exc
        else:
            raise PrepareError(f"{self.path}: cannot read: {last_error}")
        rejected = reject_lines(con, rel.rejects) if rel.rejects else []
        if rel.rejects:
            drop_rejects(con, rel.rejects)
        gaps = [n - j for j, n in enumerate(sorted(n for n, _ in rejected), start=1)]
        renumber = rel.renumber and bool(rejected)  # JSON lines: the rows were numbered among the lines read
        bad = _BadLines(report, [n for n, _ in rejected])
        sink = ItemSink(con, out_table)
        last: str | None = None
        for row in stream_rows(con, "SELECT * FROM item_rows ORDER BY item_id NULLS LAST, line"):
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
