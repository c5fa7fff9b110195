# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""SQL text and DuckDB scan helpers shared by the source adapters (:mod:`.sources`, :mod:`.items`) and the
engine (:mod:`.pipeline`, :mod:`.samples`): quoting, raw-line scans with their reject tables, streaming results.

Why a module of its own: the engine runs on the relations the adapters describe and must not reach back into the
adapters for its plumbing. Every path given to DuckDB goes through :func:`sql_path`: a path names one file, never a
pattern.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Longest line DuckDB accepts when reading raw text lines or JSON records (bytes).
MAX_LINE_BYTES = 64 * 1024 * 1024
#: ``read_csv``'s buffer. Its default, 16 x ``max_line_size`` (1 GiB here), is one allocation that fails under a
#: ``--memory-limit`` of 2GB or less (DuckDB's share is below 1 GiB); two longest lines' worth is enough.
CSV_BUFFER_BYTES = 2 * MAX_LINE_BYTES


#: Characters DuckDB would expand as a file pattern; a path holding them is escaped (see :func:`sql_path`).
GLOB_CHARS = "*?["


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


#: SQL: the raw line ``text`` is a JSON object (CASE, not AND: DuckDB evaluates both sides of AND).
IS_OBJECT = "CASE WHEN json_valid(text) THEN json_type(text) = 'OBJECT' ELSE false END"


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


#: Rows fetched from DuckDB at a time by :func:`stream_rows`.
FETCH_ROWS = 8_192


def stream_batches(con: Any, sql: str, rows: int) -> Iterator[Any]:
    """The result of ``sql`` as arrow record batches of about ``rows`` rows, streamed by DuckDB (``execute`` would
    hold the whole result). No other statement may run on ``con`` until the batches are read."""
    complete = getattr(con, "complete", None)
    if complete is not None:  # DuckDB 2: a result of execute() not read to its end blocks the connection
        complete()
    relation = con.sql(sql)
    reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader  # DuckDB 2 / 1.x
    yield from reader(rows)


def stream_rows(con: Any, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql`` as tuples, fetched :data:`FETCH_ROWS` at a time (DuckDB streams the result)."""
    for batch in stream_batches(con, sql, FETCH_ROWS):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


def is_input_error(exc: Exception) -> bool:
    """True for DuckDB's errors about the content of an input file (not about our SQL)."""
    import duckdb

    return isinstance(exc, (duckdb.InvalidInputException, duckdb.ConversionException))
