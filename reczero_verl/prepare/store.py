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

    def read_ranges(self, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, dict[str, pa.StringArray]]:
        """The rows ``starts[k] .. starts[k] + lengths[k] - 1`` of every range ``k``, ranges one after the other: the
        fixed columns as a numpy record array and each text column as a string array (nulls where written null)."""
        starts = np.asarray(starts, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        keep = lengths > 0
        starts, lengths = starts[keep], lengths[keep]
        if len(starts) and (starts.min() < 0 or int((starts + lengths).max()) > self.rows):
            raise IndexError(f"row range outside the store of {self.rows} rows")
        size = self.dtype.itemsize
        rec_parts = [os.pread(self._rec, int(n) * size, int(a) * size) for a, n in zip(starts, lengths, strict=True)]
        recs = np.frombuffer(b"".join(rec_parts), dtype=self.dtype)
        if not self.texts:
            return recs, {}
        k = len(self.texts)
        # each range's texts: one block from its first row's start to its last row's last end
        first = np.cumsum(lengths) - lengths
        last = first + lengths - 1
        block_start = recs["_start"][first] if len(recs) else np.zeros(0, np.int64)
        block_end = recs[f"_end_{self.texts[-1]}"][last] if len(recs) else np.zeros(0, np.int64)
        blob = b"".join(os.pread(self._txt, int(e - s), int(s)) for s, e in zip(block_start, block_end, strict=True))
        # file offsets -> offsets in the blob: shift each range by (its block start - its place in the blob)
        base = np.cumsum(block_end - block_start) - (block_end - block_start)
        shift = np.repeat(block_start - base, lengths)
        ends = np.stack([recs[f"_end_{t}"] for t in self.texts], axis=1) - shift[:, None]
        bounds = np.concatenate(([0], ends.ravel())).astype(np.int64)
        blob_buffer = pa.py_buffer(blob)
        everything = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), blob_buffer)
        out: dict[str, pa.StringArray] = {}
        m = len(recs)
        for j, name in enumerate(self.texts):
            column = pc.take(everything, pa.array(np.arange(m, dtype=np.int64) * k + j)).cast(pa.string())
            nulls = (recs["_nulls"] >> j) & 1
            if nulls.any():
                column = pc.if_else(pa.array(nulls == 0), column, pa.scalar(None, pa.string()))
            out[name] = column
        return recs, out
