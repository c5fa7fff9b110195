# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Bad input to ``reczero-verl prepare`` becomes a correct result or one clear error line with exit code 2 (issue
9): zeros are values (item 6), a path is a path (item 8), damaged or mislabelled gzip, bytes that are not UTF-8,
nonsense options, unknown columns, Amazon 2018 cross-item duplicates, and a run that writes nothing."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.errors import EXIT_BAD_INPUT, BadInputError
from reczero_verl.prepare.sources import PrepareError
from tests.test_prepare_pipeline import prepare, read_all, review2018, write_lines


def cli(*argv: Any) -> int:
    return cli_main(["prepare", *[str(a) for a in argv]])


def one_error_line(caplog) -> str:
    """The single ERROR record of a failed command (no traceback anywhere in the log)."""
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "Traceback" not in caplog.text
    return errors[0]


def keys(out: Path) -> set[tuple[str, str, float]]:
    return {(r["extra_info"]["user_id"], r["extra_info"]["item_id"], r["reward_model"]["ground_truth"])
            for r in read_all(out)}  # fmt: skip


def test_prepare_error_is_a_bad_input_error():
    assert issubclass(PrepareError, BadInputError) and PrepareError("x").exit_code == EXIT_BAD_INPUT


# ---------------------------------------------------------------------------------------------------------------
# item 6: a 0-based scale keeps its zeros; ids of 0 are ids
# ---------------------------------------------------------------------------------------------------------------

ZERO_SCALE = ["--rating-min", 0, "--rating-max", 9]
LENIENT = ["--split", "all-test", "--min-user-history", 0, "--min-item-history", 0]


@pytest.mark.parametrize("score", [0, "0", 0.0, "0.0", " 0 "])
def test_exp3rt_zero_scores_and_ids(tmp_path, score):
    records = [
        {"user_id": 0, "item_id": 0, "score": score, "user_persona": "[Average Rating]\n0", "item_synopsis": "s",
         "item_description": "Title: 0"},
        {"user_id": "u", "item_id": 0.0, "score": 9, "item_description": "Title: T"},
        {"user_id": "v", "item_id": "", "score": 3},  # an empty id is missing, a zero is not
        {"user_id": "w", "item_id": "i", "score": None},
    ]  # fmt: skip
    path = tmp_path / "exp3rt.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    stats = prepare("imdb", "--input", path, "--output-dir", tmp_path / "out", *ZERO_SCALE)
    assert keys(tmp_path / "out") == {("0", "0", 0.0), ("u", "0.0", 9.0)}
    assert stats["dropped"]["missing_field"] == 2
    row = next(r for r in read_all(tmp_path / "out") if r["extra_info"]["user_id"] == "0")
    assert row["user_avg_rating"] == 0.0 and row["target_item"]["title"] == "0"
    assert "Average rating given by this user: 0" in row["prompt"][1]["content"]


def _zero_records() -> list[tuple[Any, Any, Any, int]]:
    """(user, item, rating, time): numeric ids 0 and ratings 0 on a 0-9 scale, each user and item rated twice."""
    return [(0, 0, 0, 1_500_000_000), (1, 0, 0.0, 1_500_000_100), (0, 1, 9, 1_500_000_200), (1, 1, 0, 1_500_000_300)]


def test_amazon_yelp_zeros(tmp_path):
    recs = _zero_records()
    amazon = write_lines(tmp_path / "a.json", [review2018(u, i, r, t, "txt") for u, i, r, t in recs])
    meta = write_lines(tmp_path / "m.json", [json.dumps({"asin": 0, "title": 0}), json.dumps({"asin": 1, "title": 1})])
    yelp = write_lines(
        tmp_path / "y.json",
        [json.dumps({"user_id": u, "business_id": i, "stars": r, "date": f"2019-01-0{n + 1}", "text": "t"})
         for n, (u, i, r, _) in enumerate(recs)],
    )  # fmt: skip
    expected = {(str(u), str(i), float(r)) for u, i, r, _ in recs}
    prepare("amazon", "--reviews", amazon, "--meta", meta, "--output-dir", tmp_path / "a", *ZERO_SCALE, *LENIENT)
    assert keys(tmp_path / "a") == expected
    titles = {r["extra_info"]["item_id"]: r["target_item"]["title"] for r in read_all(tmp_path / "a")}
    assert titles == {"0": "0", "1": "1"}
    prepare("yelp", "--reviews", yelp, "--output-dir", tmp_path / "y", *ZERO_SCALE, *LENIENT)
    assert keys(tmp_path / "y") == expected


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_interactions_zeros(tmp_path, fmt):
    recs = _zero_records()
    path = tmp_path / f"log.{fmt}"
    if fmt == "csv":
        write_lines(path, ["u,i,r,t"] + [f"{u},{i},{r},{t}" for u, i, r, t in recs])
    elif fmt == "jsonl":
        write_lines(path, [json.dumps({"u": u, "i": i, "r": r, "t": t}) for u, i, r, t in recs])
    else:
        pq.write_table(pa.table({"u": [0, 1, 0, 1], "i": [0, 0, 1, 1], "r": [0, 0, 9, 0], "t": [t for *_, t in recs]}),
                       path)  # fmt: skip
    stats = prepare("interactions", "--input", path, "--user-col", "u", "--item-col", "i", "--rating-col", "r",
                    "--time-col", "t", "--output-dir", tmp_path / "out", *ZERO_SCALE, *LENIENT)  # fmt: skip
    assert stats["dropped_total"] == 0
    assert keys(tmp_path / "out") == {(str(u), str(i), float(r)) for u, i, r, _ in recs}


# ---------------------------------------------------------------------------------------------------------------
# item 8: a path is a path
# ---------------------------------------------------------------------------------------------------------------

GLOB_NAMES = ["rev*.json", "rev?.json", "rev[1].json", "~rev.json", "it's rev.json", "rev{a,b}.json"]


@pytest.mark.parametrize("name", GLOB_NAMES)
def test_a_file_name_with_pattern_characters_is_read_alone(tmp_path, name):
    folder = tmp_path / "d[x]*"  # the folder name has pattern characters too
    folder.mkdir()
    target = write_lines(folder / name, [review2018("u1", "A", 5.0, 100, "mine"), review2018("u2", "A", 4.0, 200)])
    for n, decoy in enumerate(["rev1.json", "revX.json", "reva.json", "revb.json", "rev.json"]):
        write_lines(folder / decoy, [review2018(f"decoy{n}", "A", 1.0, 50 + n)] * 3)
    meta = write_lines(folder / name.replace("rev", "meta"), [json.dumps({"asin": "A", "title": "Shoe"})])
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", target, "--meta", meta, "--output-dir", out, *LENIENT)
    assert stats["read"] == 2 and keys(out) == {("u1", "A", 5.0), ("u2", "A", 4.0)}
    assert stats["meta"]["items_found"] == 1
    csv = write_lines(folder / name.replace(".json", ".csv"), ["u,i,r,t", "a,x,4,100", "b,x,3,200"])
    write_lines(folder / "rev1.csv", ["u,i,r,t", "z,x,1,50"])
    stats = prepare("interactions", "--input", csv, "--user-col", "u", "--item-col", "i", "--rating-col", "r",
                    "--time-col", "t", "--output-dir", tmp_path / "csv", *LENIENT)  # fmt: skip
    assert stats["read"] == 2


def test_a_pattern_that_names_no_file_is_refused(tmp_path, caplog):
    for n in (1, 2):
        write_lines(tmp_path / f"rev{n}.json", [review2018("u", "A", 5.0, 100)])
    assert cli("amazon", "--reviews", tmp_path / "rev*.json", "--output-dir", tmp_path / "out") == 2
    message = one_error_line(caplog)
    assert "rev*.json" in message and "wildcards are not expanded" in message
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------
# damaged or mislabelled gzip, bytes that are not UTF-8
# ---------------------------------------------------------------------------------------------------------------


def _reviews(n: int = 3000) -> bytes:
    return "".join(review2018(f"u{i % 50}", f"i{i % 40}", 4.0, 1_500_000_000 + i, "text") + "\n"
                   for i in range(n)).encode()  # fmt: skip


def _damaged(kind: str) -> bytes:
    data = gzip.compress(_reviews(), mtime=0)
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "corrupt":  # DuckDB alone stops at this block without an error: the integrity check catches it
        return data[:100] + b"\0" * 50 + data[150:]
    if kind == "bad_crc":
        return data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated", "corrupt", "bad_crc"])
@pytest.mark.parametrize("role", ["reviews", "meta", "imdb", "interactions"])
def test_damaged_gzip_is_one_clear_error_and_publishes_nothing(tmp_path, caplog, kind, role):
    out = tmp_path / "out"
    damaged = tmp_path / ("data.csv.gz" if role == "interactions" else "data.json.gz")
    if role == "reviews":
        damaged.write_bytes(_damaged(kind))
        argv = ["amazon", "--reviews", damaged]
    elif role == "meta":
        reviews = write_lines(tmp_path / "r.json", [review2018("u", "i0", 4.0, 1), review2018("v", "i0", 3.0, 2)])
        meta = "".join(json.dumps({"asin": f"i{i}", "title": "t" * 50}) + "\n" for i in range(3000)).encode()
        data = gzip.compress(meta, mtime=0)
        damaged.write_bytes({"truncated": data[: len(data) // 2], "corrupt": data[:100] + b"\0" * 50 + data[150:],
                             "bad_crc": data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]}[kind])  # fmt: skip
        argv = ["amazon", "--reviews", reviews, "--meta", damaged]
    elif role == "imdb":
        records = json.dumps([{"user_id": f"u{i}", "item_id": "m", "score": 5} for i in range(3000)]).encode()
        data = gzip.compress(records, mtime=0)
        damaged.write_bytes({"truncated": data[: len(data) // 2], "corrupt": data[:60] + b"\0" * 30 + data[90:],
                             "bad_crc": data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]}[kind])  # fmt: skip
        argv = ["imdb", "--input", damaged]
    else:
        rows = "u,i,r,t\n" + "".join(f"u{i % 50},i{i % 40},4,{1_500_000_000 + i}\n" for i in range(3000))
        data = gzip.compress(rows.encode(), mtime=0)
        damaged.write_bytes({"truncated": data[: len(data) // 2], "corrupt": data[:100] + b"\0" * 50 + data[150:],
                             "bad_crc": data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]}[kind])  # fmt: skip
        argv = ["interactions", "--input", damaged, "--user-col", "u", "--item-col", "i", "--rating-col", "r",
                "--time-col", "t"]  # fmt: skip
    assert cli(*argv, "--output-dir", out) == 2
    message = one_error_line(caplog)
    assert str(damaged) in message and ("gzip" in message or ".gz" in message)
    assert not out.exists()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("r.json.gz", b'{"reviewerID": "u", "asin": "i", "overall": 4, "unixReviewTime": 1}\n', "not gzip-compressed"),
    ("r.json", gzip.compress(b'{"reviewerID": "u"}\n'), "gzip-compressed but not named .gz"),
    ("r.json.gz", b"", None),  # an empty file is empty, whatever its name
])  # fmt: skip
def test_mislabelled_compression(tmp_path, caplog, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    code = cli("amazon", "--reviews", path, "--output-dir", tmp_path / "out")
    if message is None:
        assert code == 2 and "not an Amazon review file" in one_error_line(caplog)
        return
    assert code == 2 and message in one_error_line(caplog) and str(path) in caplog.text


def test_invalid_utf8_costs_one_record_per_line(tmp_path):
    lines = [review2018(f"u{n % 3}", f"i{n % 4}", 4.0, 1_500_000_000 + n, f"review {n}").encode() for n in range(30)]
    lines[4] = lines[4].replace(b"review 4", b"review \xff4")  # line 5
    lines[9] = lines[9].replace(b"review 9", b"caf\xe9")  # line 10: latin-1
    lines[20] = review2018("x", "y", 9.0, 1).encode()  # line 21: out of scale, after the bad lines
    lines.insert(12, b"")  # a blank line 13
    path = tmp_path / "r.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    stats = prepare("amazon", "--reviews", path, "--output-dir", out, "--split", "all-train")
    assert stats["read"] == 30 and stats["dropped"]["invalid_utf8"] == 2
    assert stats["first_positions"]["invalid_utf8"] == [f"{path}:5", f"{path}:10"]
    assert stats["first_positions"]["rating_out_of_scale"] == [f"{path}:22"]  # positions after them still exact
    assert stats["read"] == stats["written_total"] + stats["dropped_total"]
    with pytest.raises(PrepareError, match=rf"{path}:5: invalid utf8"):
        prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "strict", "--strict")


def test_invalid_utf8_in_metadata_csv_and_exp3rt(tmp_path):
    ratings = [("u", "A", 4.0, 1), ("v", "A", 3.0, 2), ("u", "B", 2.0, 3), ("v", "B", 1.0, 4)]
    reviews = write_lines(tmp_path / "r.json", [review2018(*r) for r in ratings])
    meta = tmp_path / "m.json"
    meta.write_bytes(b'{"asin": "A", "title": "Sho\xe9"}\n{"asin": "B", "title": "Hat"}\n')
    stats = prepare("amazon", "--reviews", reviews, "--meta", meta, "--output-dir", tmp_path / "a", *LENIENT)
    assert stats["meta"]["malformed"] == 1 and stats["meta"]["malformed_first"] == [f"{meta}:1"]
    assert {r["target_item"]["title"] for r in read_all(tmp_path / "a")} == {None, "Hat"}

    log = tmp_path / "log.csv"
    log.write_bytes(b"u,i,r,t\na,x,4,100\nb,x,3,2\xff00\nc,x,5,300\n")
    stats = prepare("interactions", "--input", log, "--user-col", "u", "--item-col", "i", "--rating-col", "r",
                    "--time-col", "t", "--output-dir", tmp_path / "c", *LENIENT)  # fmt: skip
    assert stats["read"] == 3 and stats["dropped"]["invalid_utf8"] == 1
    assert stats["first_positions"]["invalid_utf8"] == [f"{log}:3"]

    exp = tmp_path / "e.json"
    exp.write_bytes(b'[{"user_id": "a", "item_id": "m", "score": 4, "user_persona": "caf\xe9"},\n'
                    b' {"user_id": "b", "item_id": "m", "score": 5}]')  # fmt: skip
    stats = prepare("imdb", "--input", exp, "--output-dir", tmp_path / "e")
    assert stats["dropped"]["invalid_utf8"] == 1 and stats["first_positions"]["invalid_utf8"] == [f"{exp}:record 1"]
    assert keys(tmp_path / "e") == {("b", "m", 5.0)}


# ---------------------------------------------------------------------------------------------------------------
# options and columns
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def small_reviews(tmp_path) -> Path:
    return write_lines(tmp_path / "r.json", [review2018("u", "A", 4.0, 1), review2018("v", "A", 3.0, 2)])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--memory-limit", "lots", "--memory-limit 'lots' is not a memory size"),
        ("--memory-limit", "3 parsecs", "is not a memory size"),
        ("--memory-limit", "1KB", "ran out of memory under --memory-limit 1KB"),
        ("--temp-dir", "missing-folder", "does not exist"),
        ("--temp-dir", "r.json", "is not a folder"),
    ],
)
def test_run_options_nonsense(tmp_path, small_reviews, caplog, option, value, message):
    if option == "--temp-dir":
        value = str(tmp_path / value)
    assert cli("amazon", "--reviews", small_reviews, "--output-dir", tmp_path / "out", option, value) == 2
    assert message in one_error_line(caplog)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("scale", [["--rating-max", "inf"], ["--rating-min=-inf"], ["--rating-max", "nan"],
                                   ["--rating-min", "5", "--rating-max", "5"]])  # fmt: skip
def test_rating_scale_nonsense(tmp_path, small_reviews, caplog, scale):
    assert cli("amazon", "--reviews", small_reviews, "--output-dir", tmp_path / "out", *scale) == 2
    assert "--rating-min" in one_error_line(caplog)


def test_threads_must_be_positive(tmp_path, small_reviews):
    with pytest.raises(SystemExit) as exc:
        cli("amazon", "--reviews", small_reviews, "--output-dir", tmp_path / "out", "--threads", "0")
    assert exc.value.code == 2


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "tsv"])
def test_a_column_option_naming_no_column(tmp_path, caplog, fmt):
    rows = [{"user": "a", "item": "x", "stars": 4, "when": 100}, {"user": "b", "item": "x", "stars": 3, "when": 200}]
    path = tmp_path / f"log.{'txt' if fmt == 'tsv' else fmt}"
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        write_lines(path, [sep.join(rows[0])] + [sep.join(str(v) for v in r.values()) for r in rows])
    elif fmt == "jsonl":
        write_lines(path, [json.dumps(r) for r in rows])
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    base = ["interactions", "--input", path, "--output-dir", tmp_path / "out"]
    good = {"--user-col": "user", "--item-col": "item", "--rating-col": "stars", "--time-col": "when"}
    for option in good:
        caplog.clear()
        argv = [a for k, v in {**good, option: "nope"}.items() for a in (k, v)]
        assert cli(*base, *argv) == 2
        message = one_error_line(caplog)
        assert f"{option} 'nope'" in message and str(path) in message and "user, item, stars, when" in message
    caplog.clear()
    argv = [a for k, v in good.items() for a in (k, v)]
    code = cli(*base, *argv, "--text-col", "comment")
    if fmt == "jsonl":  # a key may appear in later records: a warning, and the run goes on
        assert code == 0 and "--text-col 'comment'" in caplog.text
    else:
        assert code == 2 and "--text-col 'comment'" in one_error_line(caplog)
    caplog.clear()
    items = write_lines(tmp_path / "items.csv", ["id,name", "x,Ex"])
    assert cli(*base, *argv, "--items", items, "--items-id-col", "ident", "--items-cols", "title=name") == 2
    assert "--items-id-col 'ident'" in one_error_line(caplog)
    caplog.clear()
    assert cli(*base, *argv, "--items", items, "--items-id-col", "id", "--items-cols", "title=label") == 2
    assert "'label'" in one_error_line(caplog)
    # DuckDB matches CSV and parquet column names ignoring case, JSON keys exactly: the check says the same
    caplog.clear()
    assert cli(*base, "--user-col", "USER", *argv[2:]) == (2 if fmt == "jsonl" else 0)


# ---------------------------------------------------------------------------------------------------------------
# Amazon 2018 cross-item duplicates
# ---------------------------------------------------------------------------------------------------------------


def copy_of(user: str, item: str, rating: float, ts: int, text: str | None, **extra: Any) -> str:
    """An Amazon 2018 review as the merged-listing copies repeat it: everything but the asin (and style)."""
    record = {"overall": rating, "verified": True, "reviewerID": user, "asin": item, "style": {"Size:": item},
              "reviewText": text, "summary": "Five Stars", "unixReviewTime": ts, **extra}  # fmt: skip
    return json.dumps({k: v for k, v in record.items() if v is not None})


def test_cross_item_duplicates(tmp_path):
    lines = [
        copy_of("u1", "A1", 5.0, 100, "Great boots, warm."),  # 1: kept
        copy_of("u1", "A2", 5.0, 100, "Great boots, warm."),  # 2: copy under a sibling asin
        copy_of("u1", "A3", 5.0, 100, "Great boots, warm."),  # 3: copy
        copy_of("u1", "A1", 5.0, 100, "Great boots, warm."),  # 4: same asin as the kept one: a (user, item) duplicate
        copy_of("u1", "B1", 5.0, 100, "Different words."),  # 5: same day, other text: a review of its own
        copy_of("u1", "B2", 4.0, 100, "Great boots, warm."),  # 6: same text, other rating: its own
        copy_of("u1", "B3", 5.0, 200, "Great boots, warm."),  # 7: same text, other day: its own
        copy_of("u2", "A2", 5.0, 100, "Great boots, warm."),  # 8: another user: its own
        copy_of("u3", "C1", 3.0, 300, None),  # 9, 10: no text: never copies
        copy_of("u3", "C2", 3.0, 300, None),
        copy_of("u4", "D1", 5.0, 400, "Love it!"),  # 11, 12: same short text, verified differs: two reviews
        copy_of("u4", "D2", 5.0, 400, "Love it!", verified=False),
        copy_of("u5", "E1", 5.0, 500, "Nice", image=["http://x/1.jpg"]),  # 13, 14: same text, other images
        copy_of("u5", "E2", 5.0, 500, "Nice", image=["http://x/2.jpg"]),
    ]
    path = write_lines(tmp_path / "r.json", lines)
    stats = prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "on", *LENIENT)
    assert stats["history"]["cross_item_dedup"] is True
    assert stats["dropped"]["cross_item_duplicate"] == 2
    assert stats["first_positions"]["cross_item_duplicate"] == [f"{path}:2", f"{path}:3"]
    assert stats["dropped"]["duplicate"] == 1 and stats["first_positions"]["duplicate"] == [f"{path}:4"]
    items_u1 = {i for u, i, _ in keys(tmp_path / "on") if u == "u1"}
    assert items_u1 == {"A1", "B1", "B2", "B3"}
    off = prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "off", "--cross-item-dedup", "off", *LENIENT)
    assert off["dropped"]["cross_item_duplicate"] == 0 and off["written_total"] == stats["written_total"] + 2


def test_cross_item_dedup_defaults_off_for_2023(tmp_path):
    def rev(user, item, ts):
        return json.dumps({"rating": 5.0, "title": "t", "text": "Same words", "asin": item, "parent_asin": item,
                           "user_id": user, "timestamp": ts, "verified_purchase": True, "images": []})  # fmt: skip

    path = write_lines(tmp_path / "r.jsonl", [rev("u", "P1", 1_600_000_000_000), rev("u", "P2", 1_600_000_000_000)])
    auto = prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "a", *LENIENT)
    assert auto["history"]["cross_item_dedup"] is False and auto["written_total"] == 2
    on = prepare("amazon", "--reviews", path, "--output-dir", tmp_path / "b", "--cross-item-dedup", "on", *LENIENT)
    assert on["dropped"]["cross_item_duplicate"] == 1 and on["written_total"] == 1


# ---------------------------------------------------------------------------------------------------------------
# a run that writes nothing says so, with the reason and a hint
# ---------------------------------------------------------------------------------------------------------------

INTERACTION_COLS = ["--user-col", "u", "--item-col", "i", "--rating-col", "r", "--time-col", "t"]


@pytest.mark.parametrize(
    ("rows", "extra", "reason", "hint"),
    [
        (["u;i;r;t", "a;x;4,5;100", "b;x;3,5;200", "c;y;2,0;300"], ["--delimiter", ";"], "invalid_rating",
         "decimal commas"),
        (["u,i,r,t", "a,x,7,100", "b,x,9,200"], [], "rating_out_of_scale", "--rating-min / --rating-max"),
        (["u,i,r,t", "a,x,4,99999999999999999", "b,x,3,-5"], [], "implausible_timestamp", "--time-unit"),
        (["u,i,r,t", "a,x,4,yesterday", "b,x,3,today"], [], "invalid_timestamp", "--time-unit"),
        (["u,i,r,t", "a,x,4,100", "b,y,3,200"], ["--split", "all-test"], "too_few_user_history",
         "--min-user-history"),
        (["u,i,r,t"], [], "empty_input", "no record"),
    ],
)  # fmt: skip
def test_nothing_written_is_loud(tmp_path, capsys, caplog, rows, extra, reason, hint):
    path = write_lines(tmp_path / "log.csv", rows)
    out = tmp_path / "out"
    assert cli("interactions", "--input", path, *INTERACTION_COLS, "--output-dir", out, *extra) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["written_total"] == 0
    empty = stats["nothing_written"]
    assert empty["reason"] == reason and hint in empty["hint"]
    if reason != "empty_input":
        assert empty["records"] == stats["dropped"][reason] > 0
        assert empty["first"] and all(pos.startswith(f"{path}:row ") for pos in empty["first"])
    printed = capsys.readouterr().out
    assert "NOTHING WRITTEN" in printed and reason in printed and hint in printed
    assert "NOTHING WRITTEN" in caplog.text


def test_a_run_that_writes_something_is_not_flagged(tmp_path, small_reviews):
    stats = prepare("amazon", "--reviews", small_reviews, "--output-dir", tmp_path / "out", *LENIENT)
    assert stats["written_total"] == 2 and "nothing_written" not in stats


def test_pipeline_errors_of_duckdb_name_the_file(tmp_path, caplog):
    not_parquet = write_lines(tmp_path / "log.parquet", ["u,i,r,t", "a,x,4,100"])
    assert cli("interactions", "--input", not_parquet, *INTERACTION_COLS, "--output-dir", tmp_path / "o") == 2
    assert str(not_parquet) in one_error_line(caplog)
