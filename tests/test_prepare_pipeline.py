# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of ``reczero-verl prepare`` on tiny raw files written in each real format (always run, no shared data).

Expected values come from a brute-force reference written here (every target scanned against every interaction) or
are derived by hand in the test; the pipeline itself is DuckDB SQL, so the two are independent implementations.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from reczero_verl.contract import SAMPLE_SCHEMA
from reczero_verl.prepare.cli import run_prepare
from reczero_verl.prepare.render import TextBudgets, build_row
from reczero_verl.prepare.sources import PrepareError
from reczero_verl.template import clip_text

# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def review2018(user: str, item: str, rating: Any, ts: Any, text: str | None = None, **extra: Any) -> str:
    record = {"overall": rating, "verified": True, "reviewerID": user, "asin": item, "reviewerName": "N"}
    if text is not None:
        record["reviewText"] = text
    record.update(summary=f"summary {user} {item}", unixReviewTime=ts, **extra)
    return json.dumps(record)


def read_split(out: Path, split: str) -> list[dict[str, Any]]:
    path = out / f"{split}.parquet"
    return pq.read_table(path).to_pylist() if path.exists() else []


def read_all(out: Path) -> list[dict[str, Any]]:
    return [row for split in ("train", "val", "test") for row in read_split(out, split)]


def random_events(seed: int, n: int = 400, users: int = 25, items: int = 15) -> list[dict[str, Any]]:
    """Events with many timestamp ties (12 distinct days) and repeated (user, item) pairs."""
    rng = random.Random(seed)
    return [
        {
            "line": i + 1,
            "user": f"U{rng.randrange(users)}",
            "item": f"I{rng.randrange(items)}",
            "rating": float(rng.randint(1, 5)),
            "ts": 1_500_000_000 + 86_400 * rng.randrange(12),
            "text": f"review {i} " + "word " * rng.randrange(5),
        }
        for i in range(n)
    ]


def reference(events: list[dict[str, Any]], k: int, min_user: int = 1, min_item: int = 1) -> dict[tuple, dict]:
    """Brute force: dedup (earliest of a user-item pair), strictly-earlier histories, means over all earlier."""
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: (e["ts"], e["line"])):
        kept.setdefault((e["user"], e["item"]), e)
    ev = list(kept.values())
    out = {}
    for t in ev:
        uh = sorted((e for e in ev if e["user"] == t["user"] and e["ts"] < t["ts"]), key=lambda e: (e["ts"], e["line"]))
        ih = sorted((e for e in ev if e["item"] == t["item"] and e["ts"] < t["ts"]), key=lambda e: (e["ts"], e["line"]))
        if len(uh) < min_user or len(ih) < min_item:
            continue
        out[(t["user"], t["item"])] = {
            "ts": t["ts"],
            "rating": t["rating"],
            "uh": [(e["item"], e["rating"], e["ts"]) for e in uh[-k:]] if k else [],
            "ih": [(e["user"], e["rating"], e["ts"]) for e in ih[-k:]] if k else [],
            "uavg": sum(e["rating"] for e in uh) / len(uh) if uh else None,
            "iavg": sum(e["rating"] for e in ih) / len(ih) if ih else None,
        }
    return out


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return random_events(7)


@pytest.fixture(scope="module")
def reviews_2018(tmp_path_factory, events) -> Path:
    path = tmp_path_factory.mktemp("amz2018") / "reviews.json.gz"
    return write_lines(path, [review2018(e["user"], e["item"], e["rating"], e["ts"], e["text"]) for e in events])


def prepare(*argv: Any) -> dict[str, Any]:
    return run_prepare([str(a) for a in argv])


# ---------------------------------------------------------------------------------------------------------------
# protocol: histories, averages, dedup
# ---------------------------------------------------------------------------------------------------------------


def test_histories_and_averages_match_brute_force(tmp_path, events, reviews_2018):
    out = tmp_path / "out"
    stats = prepare(
        "amazon", "--reviews", reviews_2018, "--output-dir", out, "--split", "all-train", "--history-len", 3
    )
    expected = reference(events, k=3)
    rows = read_split(out, "train")
    assert len(rows) == len(expected) == stats["written"]["train"] > 50
    assert stats["dropped"]["duplicate"] == len(events) - len({(e["user"], e["item"]) for e in events})
    for row in rows:
        info = row["extra_info"]
        exp = expected[(info["user_id"], info["item_id"])]
        assert info["timestamp"] == exp["ts"] and row["reward_model"]["ground_truth"] == exp["rating"]
        assert [(h["item_id"], h["rating"], h["timestamp"]) for h in row["user_history"]] == exp["uh"]
        assert [(h["user_id"], h["rating"], h["timestamp"]) for h in row["item_history"]] == exp["ih"]
        assert row["user_avg_rating"] == pytest.approx(exp["uavg"])
        assert row["item_avg_rating"] == pytest.approx(exp["iavg"])
        # strictly before: no tie with the target, the target itself never in its own histories
        assert all(h["timestamp"] < info["timestamp"] for h in row["user_history"] + row["item_history"])
        assert info["item_id"] not in {h["item_id"] for h in row["user_history"]}
        assert info["user_id"] not in {h["user_id"] for h in row["item_history"]}


def test_min_history_rules_and_ties_never_leak(tmp_path):
    # u1 and u2 rate A at the same second: neither sees the other. u1 then rates B later: B has no earlier rating.
    lines = [
        review2018("u1", "A", 5.0, 100, "a1"),
        review2018("u2", "A", 3.0, 100, "a2"),
        review2018("u1", "B", 4.0, 200, "b1"),
        review2018("u2", "B", 2.0, 200, "b2"),  # tie with u1's B rating
        review2018("u3", "A", 1.0, 300, "a3"),
        review2018("u3", "B", 1.0, 300, "b3"),
        review2018("u1", "A", 1.0, 400, "again"),  # repeat of (u1, A): a duplicate
    ]
    path = write_lines(tmp_path / "r.json", lines)
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", path, "--output-dir", out, "--split", "all-train")
    rows = {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]): r for r in read_split(out, "train")}
    # By hand: (u1,B) has user history [A@100] and item history [] -> dropped (item); same for (u2,B);
    # (u3,A): user history none -> dropped (user); (u3,B): none either; (u1,A),(u2,A): first ratings.
    assert rows == {}
    assert stats["dropped"] == {
        **dict.fromkeys(stats["dropped"], 0),
        "duplicate": 1,
        "too_few_user_history": 4,  # (u1,A), (u2,A), (u3,A), (u3,B)
        "too_few_item_history": 2,  # (u1,B), (u2,B)
    }
    # With no item requirement, (u1,B) and (u2,B) qualify; each sees only its own user's A rating.
    out2 = tmp_path / "out2"
    prepare("amazon", "--reviews", path, "--output-dir", out2, "--split", "all-train", "--min-item-history", 0)
    rows = {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]): r for r in read_split(out2, "train")}
    assert set(rows) == {("u1", "B"), ("u2", "B")}
    assert [h["review"] for h in rows[("u1", "B")]["user_history"]] == ["a1"]
    assert rows[("u1", "B")]["item_history"] == [] and rows[("u1", "B")]["item_avg_rating"] is None
    assert rows[("u2", "B")]["user_avg_rating"] == 3.0
    # --min-total-history 3 additionally needs three earlier interactions in all: none of them has that.
    out3 = tmp_path / "out3"
    s3 = prepare(
        "amazon", "--reviews", path, "--output-dir", out3, "--split", "all-train",
        "--min-item-history", 0, "--min-total-history", 3,
    )  # fmt: skip
    assert s3["written_total"] == 0 and s3["dropped"]["too_few_total_history"] == 2
    # --dedup none keeps the repeat: (u1,A)@400 then has user history [A@100, B@200] and item history of A.
    out4 = tmp_path / "out4"
    prepare("amazon", "--reviews", path, "--output-dir", out4, "--split", "all-train", "--dedup", "none")
    rows = read_split(out4, "train")
    # By hand: only (u1,A)@400 has both an earlier user interaction and an earlier rating of A.
    assert [(r["extra_info"]["user_id"], r["extra_info"]["item_id"], r["extra_info"]["timestamp"]) for r in rows] == [
        ("u1", "A", 400)
    ]
    repeat = next(r for r in rows if r["extra_info"]["timestamp"] == 400)
    assert [h["item_id"] for h in repeat["user_history"]] == ["A", "B"]
    assert [h["user_id"] for h in repeat["item_history"]] == ["u1", "u2", "u3"]


# ---------------------------------------------------------------------------------------------------------------
# splits and sampling
# ---------------------------------------------------------------------------------------------------------------


def test_time_split_moves_tie_groups_and_is_disjoint(tmp_path, events, reviews_2018):
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", reviews_2018, "--output-dir", out, "--test-ratio", 0.2, "--val-ratio", 0.1)
    train, val, test = (read_split(out, s) for s in ("train", "val", "test"))
    assert train and val and test
    ts = {
        s: [r["extra_info"]["timestamp"] for r in rows] for s, rows in (("train", train), ("val", val), ("test", test))
    }
    assert max(ts["train"]) < min(ts["val"]) <= max(ts["val"]) < min(ts["test"])
    assert stats["split"]["test_from_timestamp"] == min(ts["test"])
    # the cut at the ratio position falls inside a tie group (12 distinct days): the whole group went to test
    n = stats["split"]["eligible"]
    assert len(test) >= round(0.2 * n)
    keys = [{(r["extra_info"]["user_id"], r["extra_info"]["item_id"]) for r in rows} for rows in (train, val, test)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert sum(len(k) for k in keys) == n == len(reference(events, k=10))
    for split, rows in (("train", train), ("val", val), ("test", test)):
        assert [r["extra_info"]["index"] for r in rows] == list(range(len(rows)))
        assert {r["extra_info"]["split"] for r in rows} == {split}
        assert [r["extra_info"]["timestamp"] for r in rows] == sorted(r["extra_info"]["timestamp"] for r in rows)


def test_random_split_sampling_and_determinism(tmp_path, reviews_2018):
    args = ["amazon", "--reviews", reviews_2018, "--split", "random", "--test-ratio", 0.3, "--seed", 3]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    stats = prepare(*args, "--output-dir", a, "--max-train", 20, "--max-test", 7)
    prepare(*args, "--output-dir", b, "--max-train", 20, "--max-test", 7)
    for name in ("train.parquet", "test.parquet", "stats.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert stats["written"] == {"train": 20, "val": 0, "test": 7}
    eligible = stats["split"]["eligible_per_split"]
    assert stats["dropped"]["sampled_out"] == eligible["train"] - 20 + eligible["test"] - 7
    full = prepare(*args, "--output-dir", c)
    train_all = {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]) for r in read_split(c, "train")}
    test_all = {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]) for r in read_split(c, "test")}
    assert not train_all & test_all
    assert 0.15 < len(test_all) / full["split"]["eligible"] < 0.45
    # the sample is a subset of the same split, and its rows equal the unsampled rows (histories from all data)
    full_rows = {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]): r for r in read_split(c, "train")}
    for row in read_split(a, "train"):
        key = (row["extra_info"]["user_id"], row["extra_info"]["item_id"])
        assert key in train_all
        assert row["prompt"] == full_rows[key]["prompt"] and row["user_history"] == full_rows[key]["user_history"]
    other = prepare(*args[:-1], "4", "--output-dir", tmp_path / "d", "--max-train", 20)
    assert other["split"]["eligible_per_split"] != stats["split"]["eligible_per_split"] or read_split(
        tmp_path / "d", "train"
    ) != read_split(a, "train")


# ---------------------------------------------------------------------------------------------------------------
# raw formats
# ---------------------------------------------------------------------------------------------------------------


def test_amazon_2014_reviews_with_python_literal_meta(tmp_path):
    reviews = [
        review2018("u1", "A", 5.0, 100, "first"),
        review2018("u2", "A", 4.0, 150, "second"),
        review2018("u1", "B", 3.0, 200, "third"),
        review2018("u2", "B", 2.0, 250, "fourth"),
    ]
    meta = [
        "{'asin': 'A', 'title': \"Bob's Shoes\", 'categories': [['Clothing', 'Shoes'], ['Sale']], 'price': 9.99}",
        "{'asin': 'B', 'title': 'Hat', 'brand': 'Acme', 'description': 'A warm hat.',"
        " 'related': {'also_bought': ['A']}}",
        "{'asin': 'B', 'title': 'Second record of B is ignored'}",
        "{'asin': 'C', 'title': 'not needed'}",
        "{'asin': 'D', 'title': 'broken literal'",  # malformed, but D is not needed: still counted (no asin match)
        "not a dict at all",
    ]
    r = write_lines(tmp_path / "reviews_Clothing_5.json", reviews)
    m = write_lines(tmp_path / "meta_Clothing.json.gz", meta)
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", r, "--meta", m, "--output-dir", out, "--split", "all-test")
    rows = read_split(out, "test")
    assert [(x["extra_info"]["user_id"], x["extra_info"]["item_id"]) for x in rows] == [("u2", "B")]
    row = rows[0]
    assert row["target_item"] == {
        "item_id": "B",
        "title": "Hat",
        "categories": None,
        "brand": "Acme",
        "description": "A warm hat.",
        "features": None,
        "details": None,
    }
    assert [(h["item_id"], h["title"]) for h in row["user_history"]] == [("A", "Bob's Shoes")]
    assert "Bob's Shoes: rated 4" in row["prompt"][1]["content"]
    assert stats["meta"]["format"] == "python" and stats["meta"]["items_found"] == 2
    # "broken literal" (D) matches the asin pattern but D is not needed; "not a dict" has no asin: 1 malformed
    assert stats["meta"]["malformed"] == 1 and stats["meta"]["malformed_first"] == [f"{m}:6"]


def test_amazon_2023_millisecond_timestamps_and_jsonl_meta(tmp_path):
    def rev(user, item, rating, ts_ms, text):
        return json.dumps(
            {"rating": rating, "title": "t", "text": text, "images": [], "asin": item + "-v", "parent_asin": item,
             "user_id": user, "timestamp": ts_ms, "helpful_vote": 0, "verified_purchase": True}
        )  # fmt: skip

    reviews = [
        rev("u1", "P1", 5.0, 1_600_000_000_123, "x"),
        rev("u2", "P1", 4.0, 1_600_000_100_999, "y"),
        rev("u1", "P2", 2.0, 1_600_000_200_000, "z"),
        rev("u2", "P2", 1.0, 1_600_000_300_500, "w"),
    ]
    meta = [
        json.dumps(
            {
                "main_category": "Books",
                "title": "Book Two",
                "categories": ["Books", "Fiction"],
                "features": ["f1", "f2"],
                "description": ["Para one.", "Para two."],
                "store": "Store X",
                "details": {"Language": "English"},
                "price": 12.5,
                "parent_asin": "P2",
            }
        ),  # fmt: skip
        json.dumps({"title": "Book One", "parent_asin": "P1", "categories": []}),
    ]
    r = write_lines(tmp_path / "Books.jsonl", reviews)
    m = write_lines(tmp_path / "meta_Books.jsonl", meta)
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", r, "--meta", m, "--output-dir", out, "--split", "all-test")
    assert stats["source"] == "amazon2023" and stats["timestamp_unit"] == "ms"
    (row,) = read_split(out, "test")
    assert row["extra_info"]["timestamp"] == 1_600_000_300  # 1_600_000_300_500 ms, floored to seconds
    assert row["user_history"][0]["timestamp"] == 1_600_000_100 and row["user_history"][0]["title"] == "Book One"
    assert row["target_item"] == {
        "item_id": "P2",
        "title": "Book Two",
        "categories": "Books, Fiction",
        "brand": "Store X",
        "description": "Para one. Para two.",
        "features": "f1, f2",
        "details": "Language: English; price: 12.5",
    }


def test_yelp_date_strings_and_business(tmp_path):
    def rev(user, biz, stars, date, text):
        return json.dumps(
            {"review_id": f"{user}{biz}", "user_id": user, "business_id": biz, "stars": stars, "useful": 0,
             "funny": 0, "cool": 0, "text": text, "date": date}
        )  # fmt: skip

    reviews = [
        rev("u1", "b1", 5, "2018-01-01 10:00:00", "great"),
        rev("u2", "b1", 3, "2018-01-01 10:00:00", "ok"),
        rev("u1", "b2", 4, "2018-02-03 04:05:06", "fine"),
        rev("u2", "b2", 2, "2018-02-03 04:05:07", "meh"),
    ]
    business = [
        json.dumps(
            {
                "business_id": "b2",
                "name": "Cafe Zwei",
                "address": "1 Main St",
                "city": "Tempe",
                "state": "AZ",
                "stars": 4.5,
                "review_count": 99,
                "categories": "Cafes, Coffee & Tea",
                "attributes": {"WiFi": "u'free'", "OutdoorSeating": "True"},
            }
        )  # fmt: skip
    ]
    r = write_lines(tmp_path / "review.json", reviews)
    b = write_lines(tmp_path / "business.json", business)
    out = tmp_path / "out"
    prepare("yelp", "--reviews", r, "--business", b, "--output-dir", out, "--split", "all-test")
    (row,) = read_split(out, "test")
    expected_ts = int(datetime(2018, 2, 3, 4, 5, 7, tzinfo=timezone.utc).timestamp())
    assert row["extra_info"]["timestamp"] == expected_ts
    assert [h["user_id"] for h in row["item_history"]] == ["u1"]  # one second earlier: strictly before
    assert row["target_item"]["title"] == "Cafe Zwei"
    assert row["target_item"]["description"] == "1 Main St, Tempe, AZ"
    assert row["target_item"]["details"] == "WiFi: u'free'; OutdoorSeating: True"
    assert "4.5" not in row["prompt"][1]["content"]  # the business's overall stars would leak later ratings


def test_interactions_csv_iso_times_item_columns_and_rejects(tmp_path):
    rows = [
        "user,movie,stars,when,comment,movie_title,genre",
        "a,m1,4,2020-01-01T00:00:00Z,good,Movie One,Drama",
        "b,m1,2,2020-01-02T00:00:00Z,bad,Movie One,Drama",
        'a,m2,5,2020-01-03T00:00:00+01:00,"great, really",Movie Two,Comedy',
        "b,m2,1,2020-01-04,awful,,Comedy",
        "c,m2,9,2020-01-05,out of scale,Movie Two,Comedy",
        "c,m1,x,2020-01-05,not a number,Movie One,Drama",
        "d,m2,3,2020-01-06,too,many,columns,here",
        "e,m2,3,not a date,,Movie Two,Comedy",
    ]
    path = write_lines(tmp_path / "log.csv", rows)
    out = tmp_path / "out"
    stats = prepare(
        "interactions", "--input", path, "--user-col", "user", "--item-col", "movie", "--rating-col", "stars",
        "--time-col", "when", "--text-col", "comment", "--item-cols", "title=movie_title", "categories=genre",
        "--output-dir", out, "--split", "all-test", "--min-item-history", 1,
    )  # fmt: skip
    assert stats["timestamp_unit"] == "iso"
    assert stats["read"] == 8 and stats["dropped"]["malformed"] == 1 and stats["malformed"]["first"] == [f"{path}:8"]
    assert stats["dropped"]["rating_out_of_scale"] == 1 and stats["dropped"]["invalid_rating"] == 1
    assert stats["dropped"]["invalid_timestamp"] == 1
    (row,) = read_split(out, "test")  # (b, m2): b rated m1 earlier, a rated m2 earlier
    assert row["extra_info"]["timestamp"] == int(datetime(2020, 1, 4, tzinfo=timezone.utc).timestamp())
    assert row["target_item"]["title"] == "Movie Two" and row["target_item"]["categories"] == "Comedy"
    assert row["item_history"][0]["review"] == "great, really"
    assert row["item_history"][0]["timestamp"] == int(datetime(2020, 1, 2, 23, tzinfo=timezone.utc).timestamp())


def test_interactions_parquet_millisecond_auto_detection(tmp_path):
    import pyarrow as pa

    table = pa.table(
        {
            "uid": ["a", "b", "a", "b"],
            "iid": ["x", "x", "y", "y"],
            "r": [1.0, 2.0, 3.0, 4.0],
            "t": [1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000, 1_700_000_003_000],
        }
    )
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    out = tmp_path / "out"
    stats = prepare(
        "interactions", "--input", path, "--user-col", "uid", "--item-col", "iid", "--rating-col", "r",
        "--time-col", "t", "--output-dir", out, "--split", "all-test",
    )  # fmt: skip
    assert stats["timestamp_unit"] == "ms"
    (row,) = read_split(out, "test")
    assert row["extra_info"]["timestamp"] == 1_700_000_003 and row["target_item"]["title"] is None


# ---------------------------------------------------------------------------------------------------------------
# bad input, accounting, clipping, schema
# ---------------------------------------------------------------------------------------------------------------


def test_malformed_lines_counted_with_file_line_and_strict(tmp_path, events):
    lines = [review2018(e["user"], e["item"], e["rating"], e["ts"], e["text"]) for e in events[:60]]
    lines.insert(3, "")  # blank line 4: not a record, but it shifts the line numbers
    lines.insert(10, '{"overall": 5.0, "reviewerID": "x", "asin": ')  # line 11: truncated JSON
    lines.insert(20, review2018("u", "i", None, 5))  # line 21: rating missing
    lines.insert(30, review2018("u", "i", 6.0, 5))  # line 31: out of scale
    lines.insert(40, "[1, 2]")  # line 41: valid JSON, not an object
    path = write_lines(tmp_path / "r.json", lines)
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", path, "--output-dir", out)
    assert stats["read"] == 64  # 65 lines, one blank
    assert stats["malformed"] == {"count": 2, "first": [f"{path}:11", f"{path}:41"]}
    assert stats["dropped"]["missing_field"] == 1 and stats["first_positions"]["missing_field"] == [f"{path}:21"]
    assert stats["first_positions"]["rating_out_of_scale"] == [f"{path}:31"]
    assert stats["read"] == stats["written_total"] + stats["dropped_total"]
    assert stats["written_total"] == len(read_all(out))
    with pytest.raises(PrepareError, match=rf"{path}:11: malformed"):  # the first invalid line of the file
        prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "strict", "--strict")
    # Without malformed lines DuckDB's fast reader is used: positions still count the blank line.
    del lines[40], lines[10]
    path2 = write_lines(tmp_path / "r2.json", lines)
    with pytest.raises(PrepareError, match=rf"{path2}:20: missing field"):
        prepare("amazon", "--reviews", path2, "--output-dir", tmp_path / "strict2", "--strict")
    s2 = prepare("amazon", "--reviews", path2, "--output-dir", tmp_path / "lenient")
    assert s2["malformed"]["count"] == 0 and s2["first_positions"]["missing_field"] == [f"{path2}:20"]


def test_cli_errors_are_clear(tmp_path, capsys):
    from reczero_verl.cli import main

    missing = tmp_path / "nope.json"
    assert main(["prepare", "amazon", "--reviews", str(missing), "--output-dir", str(tmp_path / "o")]) == 2
    weird = write_lines(tmp_path / "w.json", [json.dumps({"foo": 1})])
    with pytest.raises(PrepareError, match="not an Amazon review file"):
        prepare("amazon", "--reviews", weird, "--output-dir", tmp_path / "o")
    reviews = write_lines(tmp_path / "r.json", [review2018("u", "i", 5.0, 1)])
    assert main(["prepare", "amazon", "--reviews", str(reviews), "--output-dir", str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "stats.json").read_text())["read"] == 1


def test_clipping_is_safe_on_multibyte_text(tmp_path):
    long = "😀中文 é " * 200 + "end"
    lines = [
        review2018("u1", "A", 5.0, 100, "x"),
        review2018("u2", "A", 4.0, 150, "  spaced\n\n out \t text "),
        review2018("u1", "B", 3.0, 200, long),
        review2018("u2", "B", 2.0, 250, "y"),
    ]
    path = write_lines(tmp_path / "r.json", lines)
    out = tmp_path / "out"
    prepare("amazon", "--reviews", path, "--output-dir", out, "--split", "all-test", "--max-review-chars", 50)
    (row,) = read_split(out, "test")
    (first,) = row["user_history"]
    assert first["review"] == "spaced out text"
    u1_review = row["item_history"][0]["review"]
    assert u1_review == clip_text(long, 50) and len(u1_review) == 50 and u1_review.endswith("…")
    assert " ".join(long.split()).startswith(u1_review[:-1].rstrip())
    u1_review.encode("utf-8")  # a cut inside a multi-byte character would not round-trip
    assert u1_review in row["prompt"][1]["content"]


def test_build_row_prompt_matches_columns_and_schema():
    target = {
        "user_id": "u",
        "item_id": "i",
        "rating": 4.0,
        "timestamp": 10,
        "user_history": [{"item_id": "j", "rating": 2.0, "timestamp": 5, "title": "T" * 300, "review": "r"}],
        "item_history": [],
        "target_item": {"title": "Item", "description": "d" * 900},
        "user_avg_rating": 2.0,
        "item_avg_rating": None,
    }
    row = build_row(target, data_source="reczero/x", split="test", index=0, rating_min=1, rating_max=5,
                    budgets=TextBudgets())  # fmt: skip
    assert len(row["user_history"][0]["title"]) == 200 and len(row["target_item"]["description"]) == 500
    assert row["prompt"][0]["role"] == "system" and "1 to 5" in row["prompt"][0]["content"]
    assert row["user_history"][0]["title"] in row["prompt"][1]["content"]
    assert set(row) == set(SAMPLE_SCHEMA.names)


def test_prepare_imports_neither_torch_nor_verl():
    code = (
        "import sys; from reczero_verl.cli import build_parser; build_parser('prepare');"
        "import reczero_verl.prepare.pipeline;"
        "bad = [m for m in ('torch', 'verl', 'transformers', 'vllm') if m in sys.modules];"
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_exp3rt_records_profiles_and_random_split(tmp_path):
    def rec(user, item, score, avg_u="4.5", avg_i="6.0", **extra):
        return {
            "user_id": user,
            "item_id": item,
            "user_persona": f"[Like]\n- things\n\n[Dislike]\n- None\n\n[Average Rating]\n{avg_u}",
            "item_synopsis": f"[Like]\n- plot\n\n[Average Rating]\n{avg_i}",
            "item_description": f"Title: Film {item}\nGenres: Drama\nDirectors: D\nCast: A, B\nPlot: Long.\nMore.",
            "rationale": "SECRET RATIONALE",
            "score": score,
            **extra,
        }

    records = [rec(f"u{i}", f"m{i}", str(1 + i % 10)) for i in range(40)]
    records += [rec("u0", "m0", "3"), rec("x", "y", "11"), rec("x", "z", None), rec("x", "w", "abc"), "not an object"]
    path = tmp_path / "test.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    out = tmp_path / "out"
    stats = prepare("imdb", "--input", path, "--output-dir", out, "--split", "random", "--val-ratio", 0.2)
    assert stats["read"] == 45 and stats["written_total"] == 40
    assert {k: v for k, v in stats["dropped"].items() if v} == {
        "duplicate": 1,
        "rating_out_of_scale": 1,
        "missing_field": 1,
        "invalid_rating": 1,
        "malformed": 1,
    }
    assert stats["first_positions"]["duplicate"] == [f"{path}:record 41"]
    rows = read_all(out)
    assert {r["extra_info"]["split"] for r in rows} == {"train", "val", "test"}
    row = next(r for r in rows if r["extra_info"]["user_id"] == "u3")
    assert row["reward_model"]["ground_truth"] == 4.0 and row["extra_info"]["rating_max"] == 10.0
    assert (row["user_avg_rating"], row["item_avg_rating"]) == (4.5, 6.0)
    assert row["user_profile"] == "[Like] - things [Dislike] - None"  # tail removed, whitespace collapsed
    assert row["target_item"]["title"] == "Film m3" and row["target_item"]["description"] == "Long. More."
    assert row["target_item"]["details"] == "Directors: D; Cast: A, B"
    assert all("SECRET" not in m["content"] for r in rows for m in r["prompt"])
    with pytest.raises(PrepareError, match=rf"{path}:record 42: rating out of scale"):
        prepare("imdb", "--input", path, "--output-dir", tmp_path / "strict", "--strict")
    with pytest.raises(SystemExit):  # EXP3RT has no timestamps: no time split offered
        prepare("imdb", "--input", path, "--output-dir", tmp_path / "t", "--split", "time")


def test_exp3rt_json_lines_through_the_engine(tmp_path):
    """An EXP3RT JSON-lines file goes the way of every source: positions are file lines, scores parse as every
    source's ratings do (DuckDB), each record keeps its OWN item description (EXP3RT paraphrases one film's plot
    differently per record), a JSON string holding U+2028 stays one record, the --strict error counts every reason."""

    def rec(user, item, score, plot="Plot."):
        description, persona = f"Title: T\nPlot: {plot}", "likes\u2028films\n[Average Rating]\n7.5"
        return json.dumps({"user_id": user, "item_id": item, "score": score, "item_description": description,
                           "user_persona": persona}, ensure_ascii=False)  # fmt: skip

    lines = [
        rec("u1", "m", "8", "First telling."),  # 1
        "",  # 2: blank, not a record
        rec("u2", "m", " 7 ", "Second telling."),  # 3
        "{not json",  # 4
        rec("u3", "m", "ten"),  # 5
        rec("u4", "m", "\uff15"),  # 6: a full-width 5: Python's float() reads it, no source's rating parser does
        rec("u1", "m", "9"),  # 7: the pair of line 1 again
        rec("u5", "n", 4),  # 8
    ]
    path = tmp_path / "test.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats = prepare("imdb", "--input", path, "--output-dir", tmp_path / "out")
    assert stats["read"] == 7 and stats["written_total"] == 3
    assert {k: v for k, v in stats["dropped"].items() if v} == {"malformed": 1, "invalid_rating": 2, "duplicate": 1}
    assert stats["malformed"]["first"] == [f"{path}:4"]
    assert stats["first_positions"] == {"invalid_rating": [f"{path}:5", f"{path}:6"], "duplicate": [f"{path}:7"]}
    rows = read_all(tmp_path / "out")
    assert [r["extra_info"]["user_id"] for r in rows] == ["u1", "u2", "u5"]  # file order: there is no time
    assert [r["target_item"]["description"] for r in rows] == ["First telling.", "Second telling.", "Plot."]
    assert [r["reward_model"]["ground_truth"] for r in rows] == [8.0, 7.0, 4.0]
    assert rows[0]["user_profile"] == "likes films" and rows[0]["user_avg_rating"] == 7.5
    assert all(len(r["user_history"]) == 0 and r["extra_info"]["timestamp"] is None for r in rows)
    strict = rf"{path}:4: malformed \(--strict; invalid records: malformed 1, invalid_rating 2\)"
    with pytest.raises(PrepareError, match=strict):
        prepare("imdb", "--input", path, "--output-dir", tmp_path / "strict", "--strict")


def test_interactions_jsonl_with_separate_items_table(tmp_path):
    log = [
        json.dumps({"u": "a", "i": "x", "r": 3, "t": "2021-05-01 10:00:00"}),
        json.dumps({"u": "b", "i": "x", "r": 4, "t": "2021-05-02 10:00:00"}),
        json.dumps({"u": "a", "i": "y", "r": 5, "t": "2021-05-03 10:00:00"}),
        json.dumps({"u": "b", "i": "y", "r": 2, "t": "2021-05-04 10:00:00"}),
    ]
    path = write_lines(tmp_path / "log.jsonl", log)
    items = write_lines(tmp_path / "items.csv", ["id,name,tags", "x,Ex,t1", 'y,Why,"t2, t3"', "y,Dup,ignored"])
    out = tmp_path / "out"
    prepare(
        "interactions", "--input", path, "--user-col", "u", "--item-col", "i", "--rating-col", "r", "--time-col", "t",
        "--items", items, "--items-id-col", "id", "--items-cols", "title=name", "categories=tags",
        "--output-dir", out, "--split", "all-test",
    )  # fmt: skip
    (row,) = read_split(out, "test")
    assert row["target_item"]["title"] == "Why" and row["target_item"]["categories"] == "t2, t3"
    assert [(h["item_id"], h["title"]) for h in row["user_history"]] == [("x", "Ex")]
    assert row["extra_info"]["timestamp"] == int(datetime(2021, 5, 4, 10, tzinfo=timezone.utc).timestamp())


# ---------------------------------------------------------------------------------------------------------------
# exactness of the fast paths (hash-candidate dedup, GROUP BY minimum-history cuts, row numbers by table rowid)
# ---------------------------------------------------------------------------------------------------------------


def test_min_history_above_one_matches_brute_force(tmp_path, events, reviews_2018):
    # m-th earliest timestamp per user (item) with ties counted: checked against the brute force, drop reasons too.
    out = tmp_path / "out"
    stats = prepare(
        "amazon", "--reviews", reviews_2018, "--output-dir", out, "--split", "all-train", "--history-len", 2,
        "--min-user-history", 2, "--min-item-history", 3,
    )  # fmt: skip
    expected = reference(events, k=2, min_user=2, min_item=3)
    rows = read_split(out, "train")
    assert {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]) for r in rows} == set(expected)
    assert len(rows) > 20
    for row in rows:
        exp = expected[(row["extra_info"]["user_id"], row["extra_info"]["item_id"])]
        assert [(h["item_id"], h["rating"], h["timestamp"]) for h in row["user_history"]] == exp["uh"]
        assert [(h["user_id"], h["rating"], h["timestamp"]) for h in row["item_history"]] == exp["ih"]
        assert row["user_avg_rating"] == pytest.approx(exp["uavg"])
    everything = reference(events, k=len(events), min_user=0, min_item=0)  # every target, all earlier interactions
    n_user = sum(1 for e in everything.values() if len(e["uh"]) < 2)  # the user rule is checked first
    assert stats["dropped"]["too_few_user_history"] == n_user
    assert stats["dropped"]["too_few_item_history"] == len(everything) - n_user - len(expected)


def test_positions_and_duplicates_exact_beyond_one_row_group(tmp_path):
    # 130,000 records (more than one DuckDB row group of 122,880 rows), read with 2 threads: the line of each record
    # is its rowid in the ingested table, so this checks that the load keeps file order, and that the hash-candidate
    # dedup reports the exact repeated records.
    n = 130_000
    lines = [review2018(f"u{i % 1000}", f"i{i // 1000}", 4.0, 1_500_000_000 + i) for i in range(n)]
    out_of_scale = [61_000, 123_500, 129_990]  # 1-based positions among the records
    for pos in out_of_scale:
        lines[pos - 1] = review2018("bad", f"x{pos}", 9.0, 1_500_000_000)
    repeats = [100_001, 124_000, 129_000]  # later re-ratings of the pair of record 7
    for pos in repeats:
        lines[pos - 1] = review2018("u6", "i0", 1.0, 1_600_000_000 + pos)
    lines.insert(1, "")  # a blank line 2: file lines of the later records are their position + 1
    path = write_lines(tmp_path / "r.json", lines)
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", path, "--output-dir", out, "--max-train", 3, "--max-test", 3, "--threads", 2)
    assert stats["read"] == n
    assert stats["first_positions"]["rating_out_of_scale"] == [f"{path}:{p + 1}" for p in out_of_scale]
    assert stats["dropped"]["duplicate"] == len(repeats)
    assert stats["first_positions"]["duplicate"] == [f"{path}:{p + 1}" for p in repeats]
