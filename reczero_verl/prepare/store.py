# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Row stores on disk, written once in row order and read back by ranges of rows with ``pread``.

Why: a target's history is a run of consecutive rows of its user's (item's) timeline, somewhere in a table of every
shown interaction. DuckDB has no cheap range lookup (a join scans the whole table, once per chunk of targets: the
run would be quadratic), holding the rendered rows in Python grows with the dataset, and a memory map counts every
page it touches (whole page-cache folios) as resident memory of the process. Here a chunk of targets reads its
ranges with two ``pread`` calls each, so what a chunk holds is its own bytes, whatever the size of the store (the
page cache belongs to the kernel).

Layout of a store: ``<name>.rec`` holds one fixed-size record a row (a numpy structured dtype: the fixed-width
columns, the file offset where the row's texts start, the end offset of each text column and a null bit per text
column); ``<name>.txt`` holds the texts of the rows, row after row (each row's text columns one after the other), so
the texts of a range of rows are one contiguous block.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["RowStore", "StoreWriter"]

#: Ranges of a read closer than this many rows are read as one block (a few extra rows cost less than a call).
MERGE_GAP = 16


def _record_dtype(fixed: Mapping[str, Any], texts: Sequence[str]) -> np.dtype:
    fields = [(name, np.dtype(kind)) for name, kind in fixed.items()]
    fields += [("_start", np.int64)] + [(f"_end_{t}", np.int64) for t in texts] + [("_nulls", np.uint32)]
    return np.dtype(fields)


class StoreWriter:
    """Appends rows to a new store ``folder/name``; :meth:`close` returns the :class:`RowStore` reading it.

    ``fixed`` maps the fixed-width columns to numpy dtypes; ``texts`` names the text columns (at most 32)."""

    def __init__(self, folder: Path, name: str, fixed: Mapping[str, Any], texts: Sequence[str]) -> None:
        if len(texts) > 32:
            raise ValueError("a store holds at most 32 text columns")
        self.folder, self.name = Path(folder), name
        self.fixed, self.texts = dict(fixed), tuple(texts)
        self.dtype = _record_dtype(self.fixed, self.texts)
        self._rec = open(self.folder / f"{name}.rec", "wb")  # noqa: SIM115 - closed in close()
        self._txt = open(self.folder / f"{name}.txt", "wb")  # noqa: SIM115
        self.rows = 0
        self._offset = 0

    def append(self, fixed: Mapping[str, np.ndarray], texts: Mapping[str, pa.Array | Sequence[str | None]]) -> None:
        """Append ``n`` rows: one numpy array per fixed column, one string array (or list) per text column."""
        columns = [texts[t] if isinstance(texts[t], pa.Array) else pa.array(texts[t], pa.string()) for t in self.texts]
        n = len(columns[0]) if columns else len(next(iter(fixed.values())))
        rec = np.zeros(n, dtype=self.dtype)
        for name in self.fixed:
            rec[name] = fixed[name]
        if columns:
            # the texts of row r, column j, are element r * k + j of the interleaved array: row after row
            k = len(columns)
            order = (np.arange(n, dtype=np.int64)[:, None] + np.arange(k, dtype=np.int64)[None, :] * n).ravel()
            both = pc.take(pa.concat_arrays([c.cast(pa.large_string()) for c in columns]), pa.array(order))
            both = both.combine_chunks() if isinstance(both, pa.ChunkedArray) else both
            offsets = np.frombuffer(both.buffers()[1], dtype=np.int64, count=len(both) + 1, offset=both.offset * 8)
            ends = (offsets[1:] - offsets[0]).reshape(n, k) + self._offset
            rec["_start"] = np.concatenate(([self._offset], ends[:-1, -1])) if n else []
            nulls = np.zeros(n, dtype=np.uint32)
            for j, col in enumerate(columns):
                rec[f"_end_{self.texts[j]}"] = ends[:, j]
                if col.null_count:
                    nulls |= np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=np.uint32) << j
            rec["_nulls"] = nulls
            data = both.buffers()[2]
            size = int(offsets[-1] - offsets[0])
            if size:
                self._txt.write(memoryview(data)[int(offsets[0]) : int(offsets[0]) + size])
            self._offset += size
        else:
            rec["_start"] = self._offset
        self._rec.write(rec.tobytes())
        self.rows += n

    def close(self) -> RowStore:
        self._rec.close()
        self._txt.close()
        return RowStore(self.folder, self.name, self.fixed, self.texts, self.rows)


class RowStore:
    """A store written by :class:`StoreWriter`, read by ranges of rows (:meth:`read_ranges`)."""

    def __init__(self, folder: Path, name: str, fixed: Mapping[str, Any], texts: Sequence[str], rows: int) -> None:
        self.fixed, self.texts, self.rows = dict(fixed), tuple(texts), rows
        self.dtype = _record_dtype(self.fixed, self.texts)
        self._rec = os.open(Path(folder) / f"{name}.rec", os.O_RDONLY)
        self._txt = os.open(Path(folder) / f"{name}.txt", os.O_RDONLY)

    def close(self) -> None:
        for fd in (self._rec, self._txt):
            os.close(fd)

    def __enter__(self) -> RowStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_ranges(
        self, starts: np.ndarray, lengths: np.ndarray, gap: int = MERGE_GAP
    ) -> tuple[np.ndarray, dict[str, pa.StringArray]]:
        """The rows ``starts[k] .. starts[k] + lengths[k] - 1`` of every range ``k``, ranges one after the other: the
        fixed columns as a numpy record array and each text column as a string array (nulls where written null).

        Ranges that overlap or lie within ``gap`` rows of each other are read as one block (a popular item's targets
        share most of their history; a chunk's targets often share an item), so a chunk costs two ``pread`` calls per
        block, not per range."""
        starts = np.asarray(starts, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        keep = lengths > 0
        starts, lengths = starts[keep], lengths[keep]
        if not len(starts):
            return np.zeros(0, dtype=self.dtype), {t: pa.array([], pa.string()) for t in self.texts}
        if starts.min() < 0 or int((starts + lengths).max()) > self.rows:
            raise IndexError(f"row range outside the store of {self.rows} rows")
        # blocks: the ranges sorted by start, a new block where a range starts beyond the reach of the previous ones
        order = np.argsort(starts, kind="stable")
        s, e = starts[order], starts[order] + lengths[order]
        reach = np.maximum.accumulate(e)
        opens = np.concatenate(([True], s[1:] > reach[:-1] + gap))
        first_of_block = np.flatnonzero(opens)
        block_start = s[first_of_block]
        block_end = np.maximum.reduceat(e, first_of_block)
        recs, texts = self._read_blocks(block_start, block_end)
        # each requested row's place among the rows read
        block_of = np.empty(len(starts), dtype=np.int64)
        block_of[order] = np.cumsum(opens) - 1
        block_base = np.cumsum(block_end - block_start) - (block_end - block_start)
        first_row = block_base[block_of] + starts - block_start[block_of]
        within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rows = np.repeat(first_row, lengths) + within
        picked = pa.array(rows)
        return recs[rows], {name: pc.take(column, picked) for name, column in texts.items()}

    def _read_blocks(self, block_start: np.ndarray, block_end: np.ndarray) -> tuple[np.ndarray, dict[str, pa.Array]]:
        """The rows of the blocks ``[block_start[b], block_end[b])``, one block after the other (two ``pread``
        calls a block: the records, then the texts)."""
        size = self.dtype.itemsize
        bounds = list(zip(block_start.tolist(), block_end.tolist(), strict=True))
        recs = np.frombuffer(b"".join([os.pread(self._rec, (b - a) * size, a * size) for a, b in bounds]), self.dtype)
        if not self.texts:
            return recs, {}
        lengths = block_end - block_start
        last = np.cumsum(lengths) - 1
        text_start = recs["_start"][last - lengths + 1]
        text_end = recs[f"_end_{self.texts[-1]}"][last]
        spans = list(zip(text_start.tolist(), text_end.tolist(), strict=True))
        blob = b"".join([os.pread(self._txt, b - a, a) for a, b in spans])
        # file offsets -> offsets in the blob: shift each block by (its text start - its place in the blob)
        size_of = text_end - text_start
        shift = np.repeat(text_start - (np.cumsum(size_of) - size_of), lengths)
        k = len(self.texts)
        ends = np.stack([recs[f"_end_{t}"] for t in self.texts], axis=1) - shift[:, None]
        bounds_all = np.concatenate(([0], ends.ravel())).astype(np.int64)
        everything = pa.LargeStringArray.from_buffers(len(bounds_all) - 1, pa.py_buffer(bounds_all), pa.py_buffer(blob))
        m = len(recs)
        out: dict[str, pa.Array] = {}
        for j, name in enumerate(self.texts):
            column = pc.take(everything, pa.array(np.arange(m, dtype=np.int64) * k + j)).cast(pa.string())
            nulls = (recs["_nulls"] >> j) & 1
            if nulls.any():
                column = pc.if_else(pa.array(nulls == 0), column, pa.scalar(None, pa.string()))
            out[name] = column
        return recs, out
