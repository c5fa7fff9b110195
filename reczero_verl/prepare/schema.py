# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""What a source adapter (:mod:`.sources`) hands the engine (:mod:`.pipeline`): one :class:`SourceData` per run.

The engine consumes this description and never calls back into an adapter: the interaction relations are SQL text in
one column schema, the positions are a rule over the file (:func:`position_labels`), and the item texts come from an
:class:`ItemLoader` that yields ``item_id`` and :data:`~reczero_verl.contract.ITEM_FIELDS` (or from item columns of
the relation). A small EXP3RT file is parsed by its adapter into an Arrow table in the same schema, which the relation
reads (:attr:`SourceData.tables`).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reczero_verl.errors import BadInputError


class PrepareError(BadInputError):
    """Bad input or options; the message names the file, line or field at fault and the fix (exit code 2)."""


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


def position_labels(path: Path, positions: str, lines: Mapping[str, Sequence[int]]) -> dict[str, list[str]]:
    """``file:line`` labels of the record positions of each reason, counted as ``positions`` says (:class:`Relation`):
    ``file:row N`` for rows of a table file, ``file:record N`` for elements of a JSON array; record ordinals resolved
    to file lines by one scan of the file, up to the largest ordinal of any reason."""
    if positions == "record":
        mapping = record_line_numbers(path, [n for ns in lines.values() for n in ns])
        return {reason: [f"{path}:{mapping.get(n, n)}" for n in ns] for reason, ns in lines.items()}
    label = {"row": f"{path}:row ", "element": f"{path}:record "}.get(positions, f"{path}:")
    return {reason: [f"{label}{n}" for n in ns] for reason, ns in lines.items()}


@dataclass(frozen=True)
class Relation:
    """One way of scanning an interaction file.

    ``sql`` yields the interaction columns (see :class:`SourceData`). ``positions`` says what ``line`` counts:
    ``"line"`` (exact file line), ``"record"`` (ordinal among non-blank lines: resolved to lines on demand), ``"row"``
    (data row of a table file) or ``"element"`` (element of a JSON array). ``rejects`` names the table where DuckDB
    stores the lines it could not read (bytes that are not UTF-8, CSV rows that do not parse): they are counted by file
    line. ``renumber``: ``line`` counts the lines read, so it is shifted past the rejected lines
    (:func:`.sql.renumber_after_rejects`).

    ``rowid_lines``: ``sql`` has no ``line`` column; a row's ``line`` is its 1-based position in the scan. The engine
    then materialises the scan into a table and takes ``rowid + 1`` (DuckDB keeps insertion order, its default), which
    at 1 M reviews costs half of numbering the scan with ``row_number() OVER ()``: that window buffers every column of
    every row, review text included, in one ordered pass. :meth:`numbered_sql` adds the column for other readers.

    ``read_errors``: ``sql`` yields ``read_error`` (VARCHAR: ``malformed`` or ``invalid_utf8``, NULL for a record
    read whole) instead of the BOOLEAN ``malformed``; for an adapter that parses the file itself.
    """

    sql: str
    positions: str = "line"
    rejects: str | None = None
    renumber: bool = False
    rowid_lines: bool = False
    read_errors: bool = False

    def numbered_sql(self) -> str:
        """``sql`` with its ``line`` column, numbering the rows in scan order when ``rowid_lines`` is set."""
        if not self.rowid_lines:
            return self.sql
        return f"SELECT row_number() OVER () AS line, * FROM ({self.sql})"


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


class ItemLoader(Protocol):
    """Loads the text fields of the items listed in a DuckDB table ``needed(item_id, target)`` into a new table
    ``out_table(item_id, title, categories, brand, description, features, details)``; for an item without ``target``
    (shown only in user histories) the title is enough."""

    def load_into(self, con: Any, needed_table: str, out_table: str, report: int) -> MetaStats: ...


@dataclass(frozen=True)
class SourceData:
    """Everything the engine reads of one run's input, in one schema whatever the raw format.

    Interaction sources (Amazon, Yelp, your own log) give ``relations``: SQL over the file with the columns ``line``
    (BIGINT, the record's position as :attr:`Relation.positions` counts it; implicit, the scan order, when
    :attr:`Relation.rowid_lines` is set), ``malformed`` (BOOLEAN), ``user_id``, ``item_id``, ``rating``, ``time``,
    ``review``, ``review_alt`` (the text shown when ``review`` is empty), ``review_key`` (other fields a copy of the
    review repeats, for the cross-item dedup), ``label`` when ``has_label``, and ``attr_<field>`` for each of
    ``item_attrs`` (all VARCHAR, validated by the engine). They are tried in order: the next one only when DuckDB
    rejects the input of the previous one. ``time_unit``: ``auto`` (each record's own unit), one unit, or ``None``:
    the source has no timestamps (``time`` is NULL; no history rules, no time split, no ranking, file order);
    ``rating_from_label``: the ratings are the labels (an implicit-feedback log).

    ``profiles``: the relation also yields ``user_profile``, ``item_profile`` (VARCHAR) and ``user_avg``,
    ``item_avg`` (DOUBLE): what a profile source (EXP3RT) shows instead of histories. ``tables``: Arrow tables the
    relations read, registered on the engine's connection under these names.

    ``items`` loads the item texts (metadata file, item table); ``inputs`` names the input files by option (``reviews``
    -> ``--reviews``) for stats.json fingerprints and error messages."""

    path: Path
    kind: str
    relations: tuple[Relation, ...] = ()
    time_unit: str | None = "auto"
    item_attrs: tuple[str, ...] = ()
    has_label: bool = False
    rating_from_label: bool = False
    items: ItemLoader | None = None
    inputs: Mapping[str, Path | None] | None = None
    profiles: bool = False
    tables: Mapping[str, Any] | None = None

    @property
    def timed(self) -> bool:
        """The records carry timestamps."""
        return self.time_unit is not None
