# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl prepare`` on the real files of ``../shared/data`` (skipped when absent).

Expected counts are recomputed here with pandas / plain Python from the raw files, independently of the DuckDB engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from reczero_verl.prepare.cli import run_prepare

AVG = re.compile(r"\[Average Rating\]\s*([0-9.]+)\s*$")


@pytest.fixture(scope="module", params=["auto", "off"])
def fashion_out(request, shared_data, tmp_path_factory) -> tuple[Path, dict, str]:
    path = shared_data / "amazon2018_fashion_5core" / "AMAZON_FASHION_5.json"
    out = tmp_path_factory.mktemp("fashion")
    argv = ["amazon", "--reviews", str(path), "--output-dir", str(out), "--test-ratio", "0.2"]
    stats = run_prepare([*argv, "--cross-item-dedup", request.param])
    return out, stats, request.param


def cross_item_duplicates(raw: pd.DataFrame) -> pd.Series:
    """Lines repeating a review (reviewer, time, rating, text, summary, verified flag, images; non-empty text) of an
    earlier line under another asin: the merged-listing copies of the 2018 dumps."""
    raw = raw.assign(images=raw["image"].map(json.dumps))
    has_text = raw.reviewText.fillna("").str.strip() != ""
    keys = ["reviewerID", "unixReviewTime", "overall", "reviewText", "summary", "verified", "images"]
    kept_asin = raw[has_text].sort_values("line").groupby(keys, dropna=False)["asin"].transform("first")
    return raw.loc[kept_asin.index[kept_asin != raw.loc[kept_asin.index, "asin"]], "line"]


def test_amazon_2018_fashion_counts_match_pandas(shared_data, fashion_out):
    out, stats, mode = fashion_out
    raw = pd.read_json(shared_data / "amazon2018_fashion_5core" / "AMAZON_FASHION_5.json", lines=True)
    raw["line"] = range(1, len(raw) + 1)
    cross = cross_item_duplicates(raw) if mode == "auto" else pd.Series([], dtype=int)
    kept = raw[~raw.line.isin(cross)]
    dedup = kept.sort_values(["unixReviewTime", "line"]).drop_duplicates(["reviewerID", "asin"])
    # earlier = strictly smaller timestamp: rank(method="min") - 1 counts them
    u_prev = dedup.groupby("reviewerID")["unixReviewTime"].rank(method="min") - 1
    i_prev = dedup.groupby("asin")["unixReviewTime"].rank(method="min") - 1
    eligible = dedup[(u_prev >= 1) & (i_prev >= 1)]
    assert stats["read"] == len(raw) == 3176
    assert stats["history"]["cross_item_dedup"] is (mode == "auto")
    assert stats["dropped"]["cross_item_duplicate"] == len(cross)
    if mode == "auto":  # most of this 5-core file is one review listed under up to 8 sibling asins
        assert len(cross) > 2000
        path = shared_data / "amazon2018_fashion_5core" / "AMAZON_FASHION_5.json"
        assert stats["first_positions"]["cross_item_duplicate"] == [f"{path}:{n}" for n in sorted(cross)[:5]]
    assert stats["dropped"]["duplicate"] == len(kept) - len(dedup)
    assert stats["dropped"]["too_few_user_history"] == int((u_prev < 1).sum())
    assert stats["written_total"] == len(eligible) > 0
    assert stats["read"] == stats["written_total"] + stats["dropped_total"]
    train = pq.read_table(out / "train.parquet").to_pylist()
    test = pq.read_table(out / "test.parquet").to_pylist()
    assert max(r["extra_info"]["timestamp"] for r in train) < min(r["extra_info"]["timestamp"] for r in test)
    by_key = {(r.reviewerID, r.asin): r for r in eligible.itertuples()}
    for row in train + test:
        info = row["extra_info"]
        src = by_key[(info["user_id"], info["item_id"])]
        assert row["reward_model"]["ground_truth"] == src.overall and info["timestamp"] == src.unixReviewTime
        earlier = dedup[(dedup.reviewerID == info["user_id"]) & (dedup.unixReviewTime < info["timestamp"])]
        assert row["user_avg_rating"] == pytest.approx(earlier.overall.mean())
        assert len(row["user_history"]) == min(10, len(earlier))
    # one opinion (user, time, rating) under sibling asins: several rows without the dedup, one row with it
    opinions = [(r["extra_info"]["user_id"], r["extra_info"]["timestamp"], r["reward_model"]["ground_truth"])
                for r in train + test]  # fmt: skip
    assert (len(set(opinions)) == len(opinions)) is (mode == "auto")


def test_exp3rt_imdb_profiles_and_averages(shared_data, tmp_path):
    path = shared_data / "exp3rt_imdb" / "test_helpful.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    stats = run_prepare(["imdb", "--input", str(path), "--output-dir", str(tmp_path)])
    assert stats["read"] == len(records) == 2073 and stats["written"]["test"] == 2073 and stats["dropped_total"] == 0
    rows = pq.read_table(tmp_path / "test.parquet").to_pylist()
    assert pq.read_table(tmp_path / "train.parquet").num_rows == 0
    for rec, row in zip(records, rows, strict=True):  # file order is kept (there is no time to order by)
        assert (row["extra_info"]["user_id"], row["extra_info"]["item_id"]) == (rec["user_id"], rec["item_id"])
        assert row["reward_model"]["ground_truth"] == float(rec["score"])
        assert row["extra_info"]["rating_max"] == 10.0 and row["extra_info"]["timestamp"] is None
        assert row["user_avg_rating"] == float(AVG.search(rec["user_persona"]).group(1))
        assert row["item_avg_rating"] == float(AVG.search(rec["item_synopsis"]).group(1))
        assert "[Average Rating]" not in row["user_profile"] and "[Average Rating]" not in row["item_profile"]
        title = " ".join(rec["item_description"].split("\n")[0].removeprefix("Title: ").split())  # collapsed
        assert row["target_item"]["title"] == title and title in row["prompt"][1]["content"]
        assert row["user_history"] == [] and row["item_history"] == []
    users = {r["extra_info"]["user_id"] for r in rows}
    assert len(users) == 859


def test_exp3rt_amazon_book_never_shows_the_rationale(shared_data, tmp_path):
    path = shared_data / "exp3rt_amazon_book" / "unseen.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    stats = run_prepare(
        [
            "imdb",
            "--input",
            str(path),
            "--rating-max",
            "5",
            "--name",
            "amazon_book_exp3rt",
            "--output-dir",
            str(tmp_path),
        ]
    )
    assert stats["written"]["test"] == len(records) == 100
    rows = pq.read_table(tmp_path / "test.parquet").to_pylist()
    assert {r["data_source"] for r in rows} == {"reczero/amazon_book_exp3rt"}
    assert sorted(r["reward_model"]["ground_truth"] for r in rows) == sorted(float(r["score"]) for r in records)
    for rec, row in zip(records, rows, strict=True):
        text = row["prompt"][0]["content"] + row["prompt"][1]["content"]
        assert " ".join(rec["rationale"].split())[:80] not in " ".join(text.split())
        assert "1 to 5" in row["prompt"][0]["content"]
        assert row["target_item"]["details"].startswith("Author: ")
