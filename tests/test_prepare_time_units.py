# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Time units are decided per record (issue 9, item 1): a file mixing seconds and milliseconds (or any numeric unit
and ISO dates) is read as if it used one unit, implausible times are refused under a named reason with positions,
and no history entry is ever truly later than its target.

The strongest check: a file whose records carry their times in random units must give exactly the rows of the same
file written in seconds only (checked against the brute-force reference of ``test_prepare_pipeline``)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reczero_verl.prepare.sources import PrepareError
from tests.test_prepare_pipeline import prepare, random_events, read_all, reference, review2018, write_lines

SCALE = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def in_unit(ts: int, unit: str) -> Any:
    """A unix time in seconds written in ``unit`` (ISO-8601 for ``iso``)."""
    if unit == "iso":
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ts * SCALE[unit]


def review2023(user: str, item: str, rating: float, ts: Any, text: str) -> str:
    return json.dumps(
        {"rating": rating, "title": "t", "text": text, "images": [], "asin": item + "-v", "parent_asin": item,
         "user_id": user, "timestamp": ts, "helpful_vote": 0, "verified_purchase": True}
    )  # fmt: skip


def rows_by_key(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]): r for r in read_all(out)}


def assert_matches_reference(out: Path, events: list[dict[str, Any]]) -> None:
    """Every row equals the brute-force reference computed on the true times (seconds)."""
    expected = reference(events, k=10)
    rows = rows_by_key(out)
    assert set(rows) == set(expected)
    for key, row in rows.items():
        exp = expected[key]
        assert row["extra_info"]["timestamp"] == exp["ts"]
        assert [(h["item_id"], h["rating"], h["timestamp"]) for h in row["user_history"]] == exp["uh"]
        assert [(h["user_id"], h["rating"], h["timestamp"]) for h in row["item_history"]] == exp["ih"]
        assert all(h["timestamp"] < exp["ts"] for h in row["user_history"] + row["item_history"])


@pytest.mark.parametrize(
    ("flavour", "units"),
    [("2018", ("s", "ms")), ("2023", ("ms", "s")), ("2018", ("s", "ms", "us", "ns")), ("2023", ("ms", "us"))],
)
def test_amazon_mixed_units_read_per_record(tmp_path, flavour, units):
    events = random_events(11, n=300)
    rng = random.Random(5)
    chosen = [rng.choice(units) for _ in events]
    assert len(set(chosen)) == len(units)  # premise: every unit occurs
    make = review2018 if flavour == "2018" else review2023
    mixed = write_lines(
        tmp_path / "mixed.json",
        [
            make(e["user"], e["item"], e["rating"], in_unit(e["ts"], u), e["text"])
            for e, u in zip(events, chosen, strict=True)
        ],
    )
    plain = write_lines(
        tmp_path / "plain.json",
        [make(e["user"], e["item"], e["rating"], in_unit(e["ts"], units[0]), e["text"]) for e in events],
    )
    args = ["--split", "time", "--test-ratio", "0.3"]
    stats = prepare("amazon", "--reviews", mixed, "--output-dir", tmp_path / "mixed", *args)
    prepare("amazon", "--reviews", plain, "--output-dir", tmp_path / "plain", *args)
    assert stats["timestamp_unit"] == "mixed"
    valid_units = stats["timestamp_units"]
    assert set(valid_units) == set(units) and sum(valid_units.values()) == len(events)
    # the same rows, in the same splits, as the file written in one unit
    for split in ("train", "test"):
        assert (
            pq.read_table(tmp_path / "mixed" / f"{split}.parquet").to_pylist()
            == pq.read_table(tmp_path / "plain" / f"{split}.parquet").to_pylist()
        )
    assert_matches_reference(tmp_path / "mixed", events)


def test_implausible_times_are_refused_with_positions(tmp_path):
    good = [review2018(f"u{i % 3}", f"i{i % 4}", 4.0, 1_500_000_000 + 86_400 * i, "x") for i in range(12)]
    bad = {
        3: 50_000_000_000,  # seconds band, year 3554
        5: 9_000_000_000_000,  # milliseconds band, year 2255
        8: -86_400,  # before 1970
        10: 4_200_000_000,  # seconds, year 2103
        12: "1e300",  # a number, but no unit puts it before 2100
    }
    lines = list(good)
    for pos in sorted(bad):
        lines.insert(pos - 1, review2018("x", "y", 3.0, bad[pos], "bad time"))
    lines.append(review2018("x", "z", 3.0, "not a time", "unparseable"))
    path = write_lines(tmp_path / "r.json", lines)
    stats = prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "out", "--split", "all-train")
    assert stats["dropped"]["implausible_timestamp"] == len(bad)
    assert stats["first_positions"]["implausible_timestamp"] == [f"{path}:{p}" for p in sorted(bad)][:5]
    assert stats["dropped"]["invalid_timestamp"] == 1
    assert all(r["extra_info"]["user_id"] != "x" for r in read_all(tmp_path / "out"))
    assert stats["read"] == stats["written_total"] + stats["dropped_total"]
    with pytest.raises(PrepareError, match=rf"{path}:3: implausible timestamp"):
        prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "strict", "--strict")


def _log_rows(events: list[dict[str, Any]], units: list[str]) -> list[dict[str, Any]]:
    return [
        {"user": e["user"], "item": e["item"], "stars": e["rating"], "when": in_unit(e["ts"], u), "text": e["text"]}
        for e, u in zip(events, units, strict=True)
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_interactions_auto_unit_per_record(tmp_path, fmt):
    events = random_events(3, n=250)
    rng = random.Random(fmt)
    units = [rng.choice(["s", "ms", "us", "ns", "iso"]) for _ in events]
    rows = _log_rows(events, units)
    path = tmp_path / f"log.{fmt}"
    if fmt == "csv":
        write_lines(path, ["user,item,stars,when,text"] + [",".join(str(r[k]) for k in r) for r in rows])
    elif fmt == "jsonl":
        write_lines(path, [json.dumps(r) for r in rows])
    else:
        table = pa.table({k: pa.array([str(r[k]) for r in rows]) for k in rows[0]})
        pq.write_table(table, path)
    out = tmp_path / "out"
    stats = prepare(
        "interactions", "--input", path, "--user-col", "user", "--item-col", "item", "--rating-col", "stars",
        "--time-col", "when", "--text-col", "text", "--output-dir", out, "--split", "all-train",
    )  # fmt: skip
    assert stats["timestamp_unit"] == "mixed" and set(stats["timestamp_units"]) == {"s", "ms", "us", "ns", "iso"}
    assert stats["dropped"]["implausible_timestamp"] == stats["dropped"]["invalid_timestamp"] == 0
    assert_matches_reference(out, events)


@pytest.mark.parametrize(
    ("unit", "values", "refused"),
    [
        ("s", [1_600_000_000, 1_600_000_000_000, 1_600_000_100], [2]),  # a millisecond value read as seconds
        ("ms", [1_600_000_000_000, 1_600_000_000, 1_600_000_100_000], [2]),  # seconds read as milliseconds
        ("ms", [1_600_000_000_000, 1_600_000_000_000_000, 5], [2, 3]),  # microseconds; 5 ms after the epoch
        ("us", [1_600_000_000_000_000, 1_600_000_000_000, 1_600_000_000_000_000_000], [2, 3]),
    ],
)
def test_explicit_unit_refuses_values_of_another_magnitude(tmp_path, unit, values, refused):
    lines = ["u,i,r,t"] + [f"u{n},i{n},4,{v}" for n, v in enumerate(values, start=1)]
    path = write_lines(tmp_path / "log.csv", lines)
    stats = prepare(
        "interactions", "--input", path, "--user-col", "u", "--item-col", "i", "--rating-col", "r", "--time-col",
        "t", "--time-unit", unit, "--output-dir", tmp_path / "out", "--split", "all-test",
        "--min-user-history", 0, "--min-item-history", 0,
    )  # fmt: skip
    assert stats["dropped"]["implausible_timestamp"] == len(refused)
    assert stats["first_positions"]["implausible_timestamp"] == [f"{path}:row {n}" for n in refused]
    assert stats["timestamp_unit"] == unit
    kept = {r["extra_info"]["user_id"]: r["extra_info"]["timestamp"] for r in read_all(tmp_path / "out")}
    assert kept == {
        f"u{n}": v // SCALE[unit] for n, v in enumerate(values, start=1) if n not in refused
    }  # fmt: skip


def test_iso_times_outside_1970_2100_are_implausible(tmp_path):
    def rev(user, biz, date):
        return json.dumps({"user_id": user, "business_id": biz, "stars": 4, "date": date, "text": "t"})

    lines = [rev("a", "b1", "2018-01-01 10:00:00"), rev("b", "b1", "1969-12-31 23:59:59"),
             rev("c", "b1", "2150-01-01 00:00:00"), rev("d", "b1", "0001-01-01 00:00:00"),
             rev("e", "b1", "2018-01-02 10:00:00")]  # fmt: skip
    path = write_lines(tmp_path / "review.json", lines)
    out = tmp_path / "out"
    stats = prepare("yelp", "--reviews", path, "--output-dir", out, "--split", "all-test", "--min-user-history", 0)
    assert stats["dropped"]["implausible_timestamp"] == 3
    assert stats["first_positions"]["implausible_timestamp"] == [f"{path}:{n}" for n in (2, 3, 4)]
    (row,) = read_all(out)
    assert row["extra_info"]["user_id"] == "e" and [h["user_id"] for h in row["item_history"]] == ["a"]
