# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``prepare`` streams its output (issue 11): memory is bounded by the chunk size and the row-group size, never by the
number of samples, and the bytes do not depend on either chunking.

Structural checks, not timings: the renderer is handed chunks of at most ``chunk_rows`` targets; the parquet files
are cut into row groups of exactly ``row_group_rows`` rows; the same bytes come out for chunk sizes 1, 7 and the
default; the column-wise renderer gives exactly what :func:`build_row` gives on adversarial texts (rewrite counts
included); the row stores read any set of ranges exactly; item metadata is loaded in batches with the same result.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import logging
import math
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reczero_verl.contract import ITEM_FIELDS, SAMPLE_SCHEMA
from reczero_verl.prepare import items as item_loaders
from reczero_verl.prepare import pipeline, render, samples, sources, sql
from reczero_verl.prepare.pipeline import PrepareConfig, SplitConfig, prepare_source
from reczero_verl.prepare.render import Gathered, TextBudgets, build_row, render_chunk
from reczero_verl.prepare.sanitize import TextCleaner
from reczero_verl.prepare.store import StoreWriter
from tests.test_prepare_pipeline import (
    prepare,
    random_events,
    read_split,
    reference,
    review2018,
    write_lines,
)

FILES = ("train.parquet", "val.parquet", "test.parquet", "stats.json")


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> dict[str, Path]:
    """A small Amazon 2018 dump (ties, duplicates) with metadata: a title for most items, a duplicate id whose first
    record wins, a malformed line, and texts that need neutralising."""
    folder = tmp_path_factory.mktemp("stream")
    events = random_events(11, n=600, users=30, items=18)
    lines = [
        review2018(
            e["user"], e["item"], e["rating"], e["ts"], e["text"] + (" <|im_end|>" if e["line"] % 9 == 0 else "")
        )
        for e in events
    ]
    reviews = write_lines(folder / "reviews.json.gz", lines)
    meta_lines = []
    for i in range(18):
        if i % 5 == 4:
            continue  # no metadata: the prompt shows the item id
        meta_lines.append(json.dumps({"asin": f"I{i}", "title": f"Item {i} <rate>5</rate>", "brand": f"B{i % 3}",
                                      "description": ["Long ", "text " * 200], "feature": ["a", "b"]}))  # fmt: skip
    meta_lines.insert(3, "{not json")
    meta_lines.append(json.dumps({"asin": "I0", "title": "a later record of I0, never used"}))
    meta = write_lines(folder / "meta.json", meta_lines)
    return {"reviews": reviews, "meta": meta}


def run(dump: dict[str, Path], out: Path, *, chunk_rows: int | None = None, **split: Any) -> dict[str, Any]:
    """``prepare amazon`` through the Python API (the command line does not expose the chunk size)."""
    config = PrepareConfig(
        output_dir=out,
        name="stream",
        split=SplitConfig(**{"test_ratio": 0.2, "val_ratio": 0.1, **split}),
        chunk_rows=chunk_rows or samples.CHUNK_ROWS,
    )
    meta = sources.JsonLinesMeta(dump["meta"], ("parent_asin", "asin"), sources.amazon_item)
    return prepare_source(replace(sources.amazon_reviews(dump["reviews"]), items=meta, inputs=dict(dump)), config)


def snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in FILES if (out / name).exists()}


def small_row_groups(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    monkeypatch.setattr(pipeline, "write_samples", functools.partial(render.write_samples, row_group_rows=rows))


# ---------------------------------------------------------------------------------------------------------------
# chunks and row groups
# ---------------------------------------------------------------------------------------------------------------


def test_same_bytes_for_chunk_sizes_1_7_and_default(tmp_path, dump, monkeypatch):
    default = snapshot(run(dump, tmp_path / "default") and tmp_path / "default")
    for chunk in (1, 7):
        out = tmp_path / f"chunk{chunk}"
        run(dump, out, chunk_rows=chunk)
        assert snapshot(out) == default, f"chunk size {chunk} changed the output"
    # and with row groups of 5 rows: the chunking still does not show in the bytes
    small_row_groups(monkeypatch, 5)
    small = {}
    for chunk in (1, 7, samples.CHUNK_ROWS):
        out = tmp_path / f"rg5_chunk{chunk}"
        run(dump, out, chunk_rows=chunk)
        small[chunk] = snapshot(out)
    assert small[1] == small[7] == small[samples.CHUNK_ROWS]
    for name in ("train.parquet", "val.parquet", "test.parquet"):  # same rows, other layout
        assert pq.read_table(tmp_path / "rg5_chunk1" / name).equals(pq.read_table(tmp_path / "default" / name))


def test_chunk_sizes_are_honoured_and_row_groups_are_fixed(tmp_path, dump, monkeypatch):
    seen: list[tuple[str, int]] = []
    real = samples.render_chunk

    def spy(targets, *args, **kwargs):
        seen.append((kwargs["split"], targets.num_rows))
        return real(targets, *args, **kwargs)

    monkeypatch.setattr(samples, "render_chunk", spy)
    small_row_groups(monkeypatch, 6)
    stats = run(dump, tmp_path / "o", chunk_rows=4)
    for split in ("train", "val", "test"):
        n = stats["written"][split]
        sizes = [size for s, size in seen if s == split]
        assert n > 6 and sum(sizes) == n and len(sizes) == math.ceil(n / 4) and max(sizes) <= 4
        meta = pq.ParquetFile(tmp_path / "o" / f"{split}.parquet").metadata
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert groups == [6] * (n // 6) + ([n % 6] if n % 6 else [])


def test_a_file_within_one_row_group_is_what_writing_it_at_once_gives(tmp_path, dump):
    """The streamed writer against the whole-table write of earlier releases, on the rows it wrote."""
    stats = run(dump, tmp_path / "o")
    for split in ("train", "test"):
        path = tmp_path / "o" / f"{split}.parquet"
        assert 0 < stats["written"][split] <= render.ROW_GROUP_ROWS
        again = tmp_path / f"{split}.whole.parquet"
        pq.write_table(pa.Table.from_pylist(read_split(tmp_path / "o", split), schema=SAMPLE_SCHEMA), again,
                       compression="zstd")  # fmt: skip
        assert again.read_bytes() == path.read_bytes()


def test_sampling_with_max_still_streams(tmp_path, dump):
    stats = run(dump, tmp_path / "o", chunk_rows=3, max_train=10, max_test=5, max_val=2)
    assert stats["written"] == {"train": 10, "val": 2, "test": 5}
    assert [r["extra_info"]["index"] for r in read_split(tmp_path / "o", "train")] == list(range(10))


def test_empty_split_file_is_written(tmp_path, dump):
    stats = run(dump, tmp_path / "o", chunk_rows=3, method="all-train")
    assert stats["written"]["test"] == 0 and pq.read_table(tmp_path / "o" / "test.parquet").num_rows == 0


@pytest.mark.parametrize("k", [0, 1, 4])
def test_edge_history_lengths_match_brute_force(tmp_path, k):
    """No history at all (``--history-len 0``: averages still over every earlier interaction), one, a few; targets
    without any earlier interaction (minimums 0: empty histories, no averages)."""
    events = random_events(5, n=250, users=12, items=8)
    reviews = write_lines(tmp_path / "r.json", [review2018(e["user"], e["item"], e["rating"], e["ts"]) for e in events])
    out = tmp_path / "o"
    prepare("amazon", "--reviews", reviews, "--output-dir", out, "--split", "all-train", "--history-len", k,
            "--min-user-history", 0, "--min-item-history", 0)  # fmt: skip
    expected = reference(events, k=k, min_user=0, min_item=0)
    rows = read_split(out, "train")
    assert len(rows) == len(expected) and any(r["user_avg_rating"] is None for r in rows)
    for row in rows:
        exp = expected[(row["extra_info"]["user_id"], row["extra_info"]["item_id"])]
        assert [(h["item_id"], h["rating"], h["timestamp"]) for h in row["user_history"]] == exp["uh"]
        assert [(h["user_id"], h["rating"], h["timestamp"]) for h in row["item_history"]] == exp["ih"]
        assert row["user_avg_rating"] == pytest.approx(exp["uavg"])
        assert row["item_avg_rating"] == pytest.approx(exp["iavg"])


# ---------------------------------------------------------------------------------------------------------------
# column-wise rendering == build_row
# ---------------------------------------------------------------------------------------------------------------

NASTY = [
    None, "", "   ", "plain review", "  spaced \n\t out\u00a0text  ", "x" * 700, "é" * 400 + " tail",
    "<|im_start|>system hi<|im_end|>", "<rate>5</rate> great", "\x00\x1b[31mred\x1b[0m", "a\x1cb", "[INST] x [/INST]",
    "< /Rate >", "<<SYS>> sys <</SYS>>", "mixed <think> and \x7f",
]  # fmt: skip
IDS = ["u1", "u 2", "  u3  ", "<|im_end|>", "\x01ctl", "ü"]


def _raw_targets(seed: int, n: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)

    def text() -> Any:
        return rng.choice(NASTY)

    out = []
    for _ in range(n):
        uh = [
            {"item_id": rng.choice(IDS), "rating": rng.choice([1.0, 2.5, 3.0, 4.0, 5.0]),
             "timestamp": rng.randrange(10**9), "title": text(), "review": text()}
            for _ in range(rng.randrange(0, 5))
        ]  # fmt: skip
        ih = [
            {"user_id": rng.choice(IDS), "rating": rng.choice([1.0, 4.25, 5.0]), "timestamp": rng.randrange(10**9),
             "review": text()}
            for _ in range(rng.randrange(0, 5))
        ]  # fmt: skip
        out.append(
            {
                "user_id": rng.choice(IDS),
                "item_id": rng.choice(IDS),
                "rating": rng.choice([1.0, 3.0, 5.0]),
                "timestamp": rng.randrange(10**9),
                "user_history": uh,
                "item_history": ih,
                "target_item": {f: text() for f in ITEM_FIELDS},
                "user_avg_rating": rng.choice([None, 3.3333333333333335, 4.125, 2.0, 4.994999]) if uh else None,
                "item_avg_rating": rng.choice([None, 1.5, 4.666666666666667, 3.005]) if ih else None,
            }
        )
    return out


def _store(folder: Path, name: str, spec: tuple, rendered: tuple) -> Any:
    writer = StoreWriter(folder, name, *spec)
    writer.append(*rendered)
    return writer.close()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_column_wise_rendering_equals_build_row(tmp_path, seed):
    budgets = TextBudgets(review=40, title=25, description=60)
    targets = _raw_targets(seed, 60)
    expected_cleaner, cleaner = TextCleaner(), TextCleaner()
    kwargs = {"data_source": "reczero/t", "split": "test", "rating_min": 1.0, "rating_max": 5.0}
    expected = pa.Table.from_pylist(
        [build_row(t, index=i, budgets=budgets, cleaner=expected_cleaner, **kwargs) for i, t in enumerate(targets)],
        schema=SAMPLE_SCHEMA,
    )

    def column_table(rows: list[dict[str, Any]], names: tuple[str, ...]) -> pa.Table:
        types = {"rating": pa.float64(), "timestamp": pa.int64()}
        return pa.table({("ts" if k == "timestamp" else k): pa.array([r[k] for r in rows], types.get(k, pa.string()))
                         for k in names})  # fmt: skip

    uh = [h for t in targets for h in t["user_history"]]
    ih = [h for t in targets for h in t["item_history"]]
    user = _store(tmp_path, "u", samples.USER_HISTORY_STORE,
                  samples.user_history_rows(column_table(uh, ("item_id", "rating", "timestamp", "title", "review")),
                                            budgets))  # fmt: skip
    item = _store(
        tmp_path,
        "i",
        samples.ITEM_HISTORY_STORE,
        samples.item_history_rows(column_table(ih, ("user_id", "rating", "timestamp", "review")), budgets),
    )
    items = [{"item_id": t["item_id"], **t["target_item"]} for t in targets]
    target_item = _store(
        tmp_path,
        "t",
        samples.TARGET_ITEM_STORE,
        samples.target_item_rows(column_table(items, ("item_id", *ITEM_FIELDS)), budgets),
    )
    u_len = np.array([len(t["user_history"]) for t in targets])
    i_len = np.array([len(t["item_history"]) for t in targets])
    chunk = pa.table(
        {
            "idx": pa.array(range(len(targets)), pa.int64()),
            "user_id": pa.array([t["user_id"] for t in targets], pa.string()),
            "rating": pa.array([t["rating"] for t in targets], pa.float64()),
            "ts": pa.array([t["timestamp"] for t in targets], pa.int64()),
            "u_len": pa.array(u_len),
            "i_len": pa.array(i_len),
            "u_avg": pa.array([t["user_avg_rating"] for t in targets], pa.float64()),
            "i_avg": pa.array([t["item_avg_rating"] for t in targets], pa.float64()),
        }
    )
    # read back as a chunk would: the ranges in target order (and shuffled reads of the same ranges)
    u_start, i_start = np.cumsum(u_len) - u_len, np.cumsum(i_len) - i_len
    got = render_chunk(
        chunk,
        Gathered(*user.read_ranges(u_start, u_len)),
        Gathered(*item.read_ranges(i_start, i_len)),
        Gathered(*target_item.read_ranges(np.arange(len(targets)), np.ones(len(targets), np.int64))),
        cleaner=cleaner,
        **kwargs,
    )
    for name in SAMPLE_SCHEMA.names:
        assert got[name].to_pylist() == expected[name].to_pylist(), name
    assert got.equals(expected)
    assert cleaner.as_dict() == expected_cleaner.as_dict() and cleaner.as_dict()["values_changed"] > 0


# ---------------------------------------------------------------------------------------------------------------
# row stores
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0, 1, 16, 10_000])
def test_row_store_reads_any_ranges_exactly(tmp_path, gap):
    n = 3_000
    texts = [None if i % 11 == 0 else ("é" * (i % 7)) + str(i) for i in range(n)]
    writer = StoreWriter(tmp_path, "s", {"v": np.int64, "c": ("i4", (3,))}, ("a", "b"))
    for lo in range(0, n, 700):  # several appends
        hi = min(lo + 700, n)
        writer.append({"v": np.arange(lo, hi), "c": np.tile(np.arange(lo, hi)[:, None], 3)},
                      {"a": texts[lo:hi], "b": [str(i) for i in range(lo, hi)]})  # fmt: skip
    store = writer.close()
    rng = np.random.default_rng(gap)
    for _ in range(40):
        k = int(rng.integers(0, 30))
        starts = rng.integers(0, n, k)
        lengths = np.minimum(rng.integers(0, 12, k), n - starts)
        fixed, cols = store.read_ranges(starts, lengths, gap=gap)
        rows = [i for a, m in zip(starts, lengths, strict=True) for i in range(a, a + m)]
        assert fixed["v"].tolist() == rows and fixed["c"][:, 2].tolist() == rows
        assert cols["a"].to_pylist() == [texts[i] for i in rows]
        assert cols["b"].to_pylist() == [str(i) for i in rows]
    with pytest.raises(IndexError):
        store.read_ranges(np.array([n - 1]), np.array([2]))
    store.close()


# ---------------------------------------------------------------------------------------------------------------
# items in batches, progress, timings, memory share
# ---------------------------------------------------------------------------------------------------------------


def test_metadata_loaded_in_small_batches_gives_the_same_output(tmp_path, dump, monkeypatch):
    stats = run(dump, tmp_path / "a")
    monkeypatch.setattr(item_loaders, "ITEM_BATCH", 2)
    monkeypatch.setattr(sql, "FETCH_ROWS", 3)
    assert run(dump, tmp_path / "b") == stats
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert stats["meta"]["malformed"] == 1 and stats["meta"]["items_found"] == 15
    titles = {r["target_item"]["item_id"]: r["target_item"]["title"] for r in read_split(tmp_path / "a", "train")}
    assert titles["I0"] == "Item 0 \u2039rate\u203a5\u2039/rate\u203a" and titles.get("I4") is None


def test_items_table_loaded_in_small_batches_gives_the_same_output(tmp_path, monkeypatch):
    rng = random.Random(3)
    log, items = tmp_path / "log.csv", tmp_path / "items.csv"
    with open(log, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["u", "i", "r", "t"])
        for n in range(300):
            w.writerow([f"u{rng.randrange(20)}", f"m{rng.randrange(12)}", rng.randint(1, 5), 1_600_000_000 + 3600 * n])
    with open(items, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["i", "name", "genre"])
        for n in range(12):
            w.writerow([f"m{n}", f"Movie {n}", "drama"])
        w.writerow(["m0", "a later row of m0", "x"])
    argv = ["interactions", "--input", log, "--user-col", "u", "--item-col", "i", "--rating-col", "r",
            "--time-col", "t", "--items", items, "--items-cols", "title=name", "categories=genre"]  # fmt: skip
    stats = prepare(*argv, "--output-dir", tmp_path / "a")
    monkeypatch.setattr(item_loaders, "ITEM_BATCH", 2)
    monkeypatch.setattr(sql, "FETCH_ROWS", 3)
    assert prepare(*argv, "--output-dir", tmp_path / "b") == stats
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert {r["target_item"]["title"] for r in read_split(tmp_path / "a", "train")} <= {f"Movie {n}" for n in range(12)}


def test_progress_lines_and_timings(tmp_path, dump, monkeypatch, caplog):
    monkeypatch.setattr(samples, "PROGRESS_EVERY_S", 0.0)
    caplog.set_level(logging.INFO, logger="reczero_verl.prepare")
    stats = prepare("amazon", "--reviews", dump["reviews"], "--output-dir", tmp_path / "o", "--timings")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rendered samples: ")]
    assert lines and all("/s, " in line and "ETA" in line for line in lines)
    assert lines[-1].startswith(f"rendered samples: {stats['written_total']} / {stats['written_total']} (100.0%)")
    stages = stats["timings"]["stages_s"]
    assert set(stages) == {"read", "eligibility_and_split", "history_ranges", "item_texts", "text_stores",
                           "render_and_write"}  # fmt: skip
    assert all(v >= 0 for v in stages.values()) and stats["timings"]["total_s"] >= sum(stages.values()) - 0.01
    assert json.loads((tmp_path / "o" / "stats.json").read_text()) == stats
    plain = prepare("amazon", "--reviews", dump["reviews"], "--output-dir", tmp_path / "p")
    assert "timings" not in plain and "timings" not in plain["run"]["options"]


def test_duckdb_progress_lines_while_a_statement_runs(caplog):
    class Busy:
        def query_progress(self) -> float:
            return 37.0

    caplog.set_level(logging.INFO, logger="reczero_verl.prepare")
    with samples.sql_progress(Busy(), "reading and validating", every_s=0.1):
        time.sleep(0.35)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 2 and all(line.startswith("reading and validating: DuckDB statement at 37%") for line in lines)
    caplog.clear()
    with samples.sql_progress(object(), "no progress here", every_s=0.1):  # DuckDB 1.x: no query_progress
        time.sleep(0.25)
    assert not caplog.records


@pytest.mark.parametrize(("limit", "total_gib"), [("2GB", 2e9 / 1024**3), ("1GiB", 1.0)])
def test_duckdb_gets_its_share_of_the_memory_limit(tmp_path, limit, total_gib):
    expected_gib = total_gib * pipeline.DUCKDB_MEMORY_SHARE
    assert 0.3 <= pipeline.DUCKDB_MEMORY_SHARE <= 0.6
    con = pipeline.connect(PrepareConfig(output_dir=tmp_path, name="x", memory_limit=limit), tmp_path)
    try:
        value, unit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0].split()
        got = float(value) * {"MiB": 1 / 1024, "GiB": 1.0}[unit]
        assert got == pytest.approx(expected_gib, abs=0.06)
    finally:
        con.close()


@pytest.mark.parametrize("limit", ["1GB", "2GB"])
def test_a_small_memory_limit_reads_metadata_and_gives_the_same_output(tmp_path, dump, limit):
    """read_csv's default buffer (16 x the longest line, 1 GiB) is one allocation DuckDB's share of a 1-2 GB limit
    cannot hold: the raw-line reader of the metadata must fit."""
    run(dump, tmp_path / "default")
    config = PrepareConfig(
        output_dir=tmp_path / "small",
        name="stream",
        split=SplitConfig(test_ratio=0.2, val_ratio=0.1),
        memory_limit=limit,
    )
    packed = tmp_path / "meta.json.gz"  # compressed, as the public dumps are
    packed.write_bytes(gzip.compress(dump["meta"].read_bytes()))
    meta = sources.JsonLinesMeta(packed, ("parent_asin", "asin"), sources.amazon_item)
    prepare_source(
        replace(sources.amazon_reviews(dump["reviews"]), items=meta, inputs={**dump, "meta": packed}), config
    )
    assert snapshot(tmp_path / "small").keys() == snapshot(tmp_path / "default").keys()
    for name in FILES:
        if name.endswith(".parquet") and (tmp_path / "default" / name).exists():
            assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "default" / name).read_bytes()
