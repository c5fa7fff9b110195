# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``prepare --task ranking|like`` (issue 12, the data side) against brute-force references on small random worlds.

The pipeline draws and orders the candidates in DuckDB SQL; the references here scan every interaction in Python, so
the two are independent: negatives never touched by the user in any record, first seen before the target, the target
exactly once, averages strictly before ``t``, ``too_few_negatives`` exactly when the pool is short, the order seeded
and reproducible, popularity counted strictly before ``t``; like labels from the threshold or a 0/1 column. The
column-wise renderer is checked against :func:`build_row` for both tasks, and the rows against the reward and verl.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from reczero_verl.contract import ITEM_FIELDS, SAMPLE_SCHEMA
from reczero_verl.prepare import samples, sources
from reczero_verl.prepare.pipeline import PrepareConfig, SplitConfig, prepare_source
from reczero_verl.prepare.render import CandidateRows, Gathered, TextBudgets, build_row, render_chunk
from reczero_verl.prepare.sanitize import TextCleaner
from reczero_verl.prepare.sources import PrepareError
from reczero_verl.prepare.tasks import TaskConfig
from reczero_verl.reward import compute_score
from reczero_verl.template import REASONING_SECTIONS, build_messages, close_tag, open_tag
from tests.test_prepare_pipeline import prepare, random_events, read_all, read_split, reference, review2018, write_lines
from tests.test_prepare_streaming import IDS, NASTY, _raw_targets, _store

M = 5  # candidates in the random worlds: their users know most of the 15 items, so pools run short often


def key(row: dict[str, Any]) -> tuple[str, str]:
    return row["extra_info"]["user_id"], row["extra_info"]["item_id"]


def answer(final: str, tag: str) -> str:
    parts = [f"{open_tag(n)}reasons{close_tag(n)}" for n in REASONING_SECTIONS]
    return "\n".join([*parts, f"{open_tag(tag)}{final}{close_tag(tag)}"])


# ---------------------------------------------------------------------------------------------------------------
# ranking: brute force
# ---------------------------------------------------------------------------------------------------------------

#: Records that are dropped (out of scale, bad time) but still say the user knows the item: never a negative.
TOUCHED = [("U3", "I2", 9.0, 1_500_000_000), ("U5", "I11", 4.0, "later"), ("U8", "I0", 0.0, 1_500_100_000)]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    events = random_events(21, n=400, users=25, items=15)
    lines = [review2018(e["user"], e["item"], e["rating"], e["ts"], e["text"]) for e in events]
    lines += [review2018(u, i, r, ts, "dropped record") for u, i, r, ts in TOUCHED]
    path = write_lines(tmp_path_factory.mktemp("rank") / "reviews.json", lines)
    return {"events": events, "path": path}


def ranking_reference(events: list[dict[str, Any]], m: int) -> tuple[dict[tuple, dict], set[tuple]]:
    """Per eligible target (one earlier user and item interaction): the admissible negatives (items with a valid
    interaction strictly before ``t``, never in any record of the user) and every item's average strictly before
    ``t``; and the targets with fewer than ``m - 1`` admissible items."""
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    for e in sorted(events, key=lambda e: (e["ts"], e["line"])):
        kept.setdefault((e["user"], e["item"]), e)
    ev = list(kept.values())
    touched = {(e["user"], e["item"]) for e in events} | {(u, i) for u, i, *_ in TOUCHED}
    out, short = {}, set()
    for t in ev:
        before = [e for e in ev if e["ts"] < t["ts"]]
        if not any(e["user"] == t["user"] for e in before) or not any(e["item"] == t["item"] for e in before):
            continue
        admissible = {e["item"] for e in before} - {i for u, i in touched if u == t["user"]}
        if len(admissible) < m - 1:
            short.add((t["user"], t["item"]))
            continue
        ratings: dict[str, list[float]] = {}
        for e in before:
            ratings.setdefault(e["item"], []).append(e["rating"])
        out[(t["user"], t["item"])] = {
            "ts": t["ts"],
            "admissible": admissible,
            "avg": {item: sum(r) / len(r) for item, r in ratings.items()},
        }
    return out, short


@pytest.mark.parametrize("negatives", ["uniform", "popularity"])
def test_ranking_candidates_match_brute_force(tmp_path, world, negatives):
    out = tmp_path / "out"
    stats = prepare(
        "amazon",
        "--reviews",
        world["path"],
        "--output-dir",
        out,
        "--split",
        "all-train",
        "--history-len",
        3,
        "--task",
        "ranking",
        "--candidates",
        M,
        "--negatives",
        negatives,
    )
    expected, short = ranking_reference(world["events"], M)
    histories = reference(world["events"], k=3)
    rows = read_split(out, "train")
    assert {key(r) for r in rows} == set(expected)
    assert stats["dropped"]["too_few_negatives"] == len(short) > 0
    assert stats["task"] == {"name": "ranking", "candidates": M, "negatives": negatives}
    assert stats["negative_draws"]["targets"] == len(rows)
    exact = 0
    for row in rows:
        exp, info = expected[key(row)], row["extra_info"]
        shown = info["candidates"]
        assert [c["item_id"] for c in row["candidates"]] == shown and len(set(shown)) == len(shown) == M
        assert shown.count(info["item_id"]) == 1
        assert row["reward_model"]["ground_truth"] == shown.index(info["item_id"]) + 1.0
        negatives_shown = set(shown) - {info["item_id"]}
        assert negatives_shown <= exp["admissible"]  # first seen before t, never touched by the user
        if len(exp["admissible"]) == M - 1:  # the whole pool is needed: nothing to choose
            assert negatives_shown == exp["admissible"]
            exact += 1
        for c in row["candidates"]:  # averages strictly before t (the target's own rating excluded)
            assert c["avg_rating"] == pytest.approx(exp["avg"].get(c["item_id"]))
        hist = histories[key(row)]
        assert [(h["item_id"], h["rating"], h["timestamp"]) for h in row["user_history"]] == hist["uh"]
        assert row["user_avg_rating"] == pytest.approx(hist["uavg"])
        assert row["target_item"] is None and row["item_history"] == [] and row["item_avg_rating"] is None
        assert (row["data_source"], row["ability"], info["task"]) == ("reczero/amazon/ranking", "ranking", "ranking")
        assert info["like_threshold"] is None
        assert row["prompt"] == build_messages(row, task="ranking", rating_min=1.0, rating_max=5.0)
        gt = int(row["reward_model"]["ground_truth"])
        best_first = ", ".join(str(n) for n in [gt, *(n for n in range(1, M + 1) if n != gt)])
        score = compute_score(row["data_source"], answer(best_first, "rank"), gt, info)
        assert (score["score"], score["ndcg"], score["hit@1"]) == (1.5, 1.0, 1.0)
    assert exact > 0  # premise: the world has targets whose pool is exactly the negatives needed


def test_ranking_is_seeded_reproducible_and_chunk_independent(tmp_path, world):
    argv = ["amazon", "--reviews", world["path"], "--task", "ranking", "--candidates", M, "--test-ratio", 0.3]
    prepare(*argv, "--output-dir", tmp_path / "a")
    prepare(*argv, "--output-dir", tmp_path / "b")
    for name in ("train.parquet", "test.parquet", "stats.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    task = TaskConfig(name="ranking", candidates=M)
    for chunk in (1, 7):
        out = tmp_path / f"chunk{chunk}"
        config = PrepareConfig(
            output_dir=out, name="amazon", split=SplitConfig(test_ratio=0.3), chunk_rows=chunk, task=task
        )
        prepare_source(sources.amazon_reviews(world["path"]), config)
        for name in ("train.parquet", "test.parquet"):
            assert (out / name).read_bytes() == (tmp_path / "a" / name).read_bytes(), (chunk, name)
    rows = read_all(tmp_path / "a")
    prepare(*argv, "--output-dir", tmp_path / "c", "--seed", 7)
    other = {key(r): r["extra_info"]["candidates"] for r in read_all(tmp_path / "c")}
    assert sum(other[key(r)] != r["extra_info"]["candidates"] for r in rows) > len(rows) // 2
    # the order is a seeded shuffle: the target lands on every place, none dominating
    places = Counter(int(r["reward_model"]["ground_truth"]) for r in rows)
    assert set(places) == set(range(1, M + 1)) and max(places.values()) < 0.4 * len(rows)
    # time split with tie groups whole, as for rating
    train, test = read_split(tmp_path / "a", "train"), read_split(tmp_path / "a", "test")
    assert max(r["extra_info"]["timestamp"] for r in train) < min(r["extra_info"]["timestamp"] for r in test)


# ---------------------------------------------------------------------------------------------------------------
# ranking: popularity strictly before t, the pool grows with time
# ---------------------------------------------------------------------------------------------------------------


def popularity_world(path: Path) -> Path:
    """300 targets (user q<n> rates T at 2000 + n, after rating Z at 1500). Before them: P rated by 50 users, F and
    I1..I19 once each (F at 1.0); after them F is rated 5.0 by 400 users. G is first rated at 2150."""
    rows = [("tt", "T", 3, 1200)]
    rows += [(f"p{k}", "P", 4, 1000 + k) for k in range(50)]
    rows += [("f0", "F", 1, 1100)] + [(f"o{j}", f"I{j}", 3, 1100 + j) for j in range(1, 20)]
    for n in range(300):
        rows += [(f"q{n}", "Z", 4, 1500), (f"q{n}", "T", 5, 2000 + n)]
    rows += [("g0", "G", 2, 2150)] + [(f"fut{k}", "F", 5, 3000 + k) for k in range(400)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "stars", "ts"])
        w.writerows(rows)
    return path


@pytest.mark.parametrize("negatives", ["uniform", "popularity"])
def test_popularity_and_pool_count_strictly_before_t(tmp_path, negatives):
    log = popularity_world(tmp_path / "log.csv")
    out = tmp_path / "out"
    prepare(
        "interactions",
        "--input",
        log,
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "stars",
        "--time-col",
        "ts",
        "--output-dir",
        out,
        "--split",
        "all-test",
        "--task",
        "ranking",
        "--candidates",
        3,
        "--negatives",
        negatives,
    )
    rows = [r for r in read_split(out, "test") if r["extra_info"]["item_id"] == "T"]
    assert len(rows) == 300
    shown = Counter()
    for row in rows:
        t = row["extra_info"]["timestamp"]
        negatives_shown = {c["item_id"]: c for c in row["candidates"] if c["item_id"] != "T"}
        assert "Z" not in negatives_shown and len(negatives_shown) == 2
        assert t > 2150 or "G" not in negatives_shown  # G does not exist yet
        if "F" in negatives_shown:  # its single earlier rating, not the 400 later ones
            assert negatives_shown["F"]["avg_rating"] == 1.0
        shown.update(list(negatives_shown))
    # weights before t: P 50, F and each I 1 (G 1 after 2150): popularity picks P in most prompts, F seldom; a count
    # that saw F's 400 later ratings would pick F in nearly every prompt
    if negatives == "popularity":
        assert shown["P"] > 0.6 * len(rows) and shown["F"] < 0.15 * len(rows)
    else:
        assert shown["P"] < 0.25 * len(rows) and shown["F"] < 0.25 * len(rows)
    assert shown["G"] > 0  # once it exists, it is drawn like any other item


def test_exact_fallback_when_the_draws_run_dry(tmp_path, monkeypatch):
    """A pool of 22 items of which the user knows none but needs all 21 minus one: the rejection rounds rarely
    finish, the exact weighted sample must (and still respect the pool)."""
    from reczero_verl.prepare import ranking

    monkeypatch.setattr(ranking, "DRAW_ROUNDS", ((1, 0),))
    log = popularity_world(tmp_path / "log.csv")
    stats = prepare(
        "interactions",
        "--input",
        log,
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "stars",
        "--time-col",
        "ts",
        "--output-dir",
        tmp_path / "o",
        "--split",
        "all-test",
        "--task",
        "ranking",
        "--candidates",
        21,
        "--negatives",
        "popularity",
    )
    assert stats["negative_draws"]["exact_fallback"] > 0
    for row in read_split(tmp_path / "o", "test"):
        shown = row["extra_info"]["candidates"]
        assert len(set(shown)) == 21 and "Z" not in shown and shown.count(row["extra_info"]["item_id"]) == 1
        assert row["extra_info"]["timestamp"] > 2150 or "G" not in shown


# ---------------------------------------------------------------------------------------------------------------
# like
# ---------------------------------------------------------------------------------------------------------------


def test_like_labels_match_the_threshold(tmp_path, world):
    out = tmp_path / "out"
    stats = prepare(
        "amazon",
        "--reviews",
        world["path"],
        "--output-dir",
        out,
        "--task",
        "like",
        "--like-threshold",
        3.5,
        "--test-ratio",
        0.2,
    )
    rating = prepare("amazon", "--reviews", world["path"], "--output-dir", tmp_path / "r", "--test-ratio", 0.2)
    by_key = {key(r): r for r in read_all(tmp_path / "r")}
    rows = read_all(out)
    assert len(rows) == len(by_key) == rating["written_total"] and stats["task"]["like_threshold"] == 3.5
    for row in rows:
        rated = by_key[key(row)]
        assert row["reward_model"]["ground_truth"] == (1.0 if rated["reward_model"]["ground_truth"] >= 3.5 else 0.0)
        for column in ("user_history", "item_history", "target_item", "user_avg_rating", "item_avg_rating"):
            assert row[column] == rated[column]
        assert (row["data_source"], row["ability"]) == ("reczero/amazon/like", "like_prediction")
        assert row["extra_info"]["task"] == "like" and row["extra_info"]["like_threshold"] == 3.5
        assert row["prompt"] == build_messages(row, task="like", like_threshold=3.5)
        assert "Liking means a rating of 3.5 or more" in row["prompt"][0]["content"]
        y = row["reward_model"]["ground_truth"]
        assert compute_score(row["data_source"], answer(f"{y:g}", "like"), y, row["extra_info"])["score"] == 1.5
    labels = Counter(r["reward_model"]["ground_truth"] for r in rows)
    liked = stats["like_labels"]
    assert labels[1.0] == sum(s["liked"] for s in liked.values()) > 0
    assert labels[0.0] == sum(s["not_liked"] for s in liked.values()) > 0


def test_like_threshold_default_and_validation(tmp_path, world):
    stats = prepare("amazon", "--reviews", world["path"], "--output-dir", tmp_path / "d", "--task", "like")
    assert stats["task"]["like_threshold"] == 4.0
    for bad in ("1", "0.5", "5.5"):  # at the bottom (everything is liked) or outside the scale
        with pytest.raises(PrepareError, match="--like-threshold .* inside the rating scale"):
            prepare(
                "amazon",
                "--reviews",
                world["path"],
                "--output-dir",
                tmp_path / "x",
                "--task",
                "like",
                "--like-threshold",
                bad,
            )
    with pytest.raises(PrepareError, match="needs --like-threshold on the rating scale"):
        prepare(
            "amazon", "--reviews", world["path"], "--output-dir", tmp_path / "x", "--task", "like", "--rating-max", 10
        )
    for option, value, task in (
        ("--candidates", 5, "rating"),
        ("--negatives", "uniform", "like"),
        ("--like-threshold", 3, "ranking"),
    ):
        with pytest.raises(PrepareError, match=f"{option} applies to --task"):
            prepare("amazon", "--reviews", world["path"], "--output-dir", tmp_path / "x", "--task", task, option, value)
    with pytest.raises(PrepareError, match="--candidates must be >= 2"):
        prepare(
            "amazon", "--reviews", world["path"], "--output-dir", tmp_path / "x", "--task", "ranking", "--candidates", 1
        )
    assert not (tmp_path / "x").exists()


def test_like_from_an_explicit_label_column(tmp_path):
    rows = [
        ["user", "item", "when", "clicked_like", "stars"],
        ["a", "m1", "2020-01-01", "1", "5"],
        ["b", "m1", "2020-01-02", "0", "2"],
        ["a", "m2", "2020-01-03", "true", "4"],
        ["b", "m2", "2020-01-04", "FALSE", "1"],
        ["c", "m1", "2020-01-05", "maybe", "3"],
        ["c", "m2", "2020-01-06", "", "3"],
        ["a", "m3", "2020-01-07", "1.0", "2"],
        ["b", "m3", "2020-01-08", "0", "5"],
    ]
    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    base = [
        "interactions",
        "--input",
        path,
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--time-col",
        "when",
        "--task",
        "like",
        "--label-col",
        "clicked_like",
        "--split",
        "all-test",
        "--min-item-history",
        0,
    ]
    stats = prepare(*base, "--output-dir", tmp_path / "implicit")
    assert stats["dropped"]["invalid_label"] == 2 and stats["first_positions"]["invalid_label"] == [
        f"{path}:row 5",
        f"{path}:row 6",
    ]
    assert stats["task"] == {"name": "like", "like_threshold": None, "label": "column"}
    assert stats["rating_scale"] == [0.0, 1.0]  # no --rating-col: the label is the rating shown
    got = {key(r): r for r in read_split(tmp_path / "implicit", "test")}
    # by hand: a target needs an earlier interaction of its user: (b,m1)? b's first is m1 -> no; a's second m2 ...
    assert {k: r["reward_model"]["ground_truth"] for k, r in got.items()} == {
        ("a", "m2"): 1.0,
        ("b", "m2"): 0.0,
        ("a", "m3"): 1.0,
        ("b", "m3"): 0.0,
    }
    row = got[("a", "m3")]
    assert row["extra_info"]["like_threshold"] is None and row["extra_info"]["task"] == "like"
    assert [h["rating"] for h in row["user_history"]] == [1.0, 1.0]
    assert "Liking means" not in row["prompt"][0]["content"] and row["prompt"] == build_messages(
        row, rating_min=0.0, rating_max=1.0, task="like"
    )
    explicit = prepare(*base, "--rating-col", "stars", "--output-dir", tmp_path / "explicit")
    assert explicit["rating_scale"] == [1.0, 5.0]
    row = {key(r): r for r in read_split(tmp_path / "explicit", "test")}[("a", "m3")]
    assert row["reward_model"]["ground_truth"] == 1.0 and [h["rating"] for h in row["user_history"]] == [5.0, 4.0]
    with pytest.raises(PrepareError, match="--label-col applies to --task like only"):
        prepare(*[a if a != "like" else "rating" for a in base], "--output-dir", tmp_path / "x")
    with pytest.raises(PrepareError, match="exclude each other"):
        prepare(*base, "--like-threshold", 1, "--output-dir", tmp_path / "x")
    with pytest.raises(PrepareError, match="--rating-col is required"):
        prepare(*[a for a in base if a not in ("--label-col", "clicked_like")], "--output-dir", tmp_path / "x")


def test_imdb_like_and_no_ranking(tmp_path):
    records = [
        {
            "user_id": f"u{i}",
            "item_id": f"m{i}",
            "user_persona": "p",
            "item_synopsis": "s",
            "item_description": f"Title: Film {i}",
            "score": str(1 + i % 10),
        }
        for i in range(20)
    ]
    path = tmp_path / "test.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    with pytest.raises(PrepareError, match="needs --like-threshold"):
        prepare("imdb", "--input", path, "--output-dir", tmp_path / "o", "--task", "like")
    stats = prepare("imdb", "--input", path, "--output-dir", tmp_path / "o", "--task", "like", "--like-threshold", 7)
    rows = read_split(tmp_path / "o", "test")
    assert [r["reward_model"]["ground_truth"] for r in rows] == [1.0 if 1 + i % 10 >= 7 else 0.0 for i in range(20)]
    assert stats["like_labels"]["test"] == {"liked": 8, "not_liked": 12}
    assert all(
        r["prompt"] == build_messages(r, rating_min=1, rating_max=10, task="like", like_threshold=7) for r in rows
    )
    from reczero_verl.cli import main

    with pytest.raises(PrepareError, match=f"{path} has no timestamps: use --task rating or like"):
        prepare("imdb", "--input", path, "--output-dir", tmp_path / "r", "--task", "ranking")
    assert (
        main(["prepare", "imdb", "--input", str(path), "--output-dir", str(tmp_path / "r"), "--task", "ranking"]) == 2
    )
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------------------------
# column-wise rendering == build_row, for ranking and like
# ---------------------------------------------------------------------------------------------------------------


def _column_table(rows: list[dict[str, Any]], names: tuple[str, ...]) -> pa.Table:
    types = {"rating": pa.float64(), "timestamp": pa.int64()}
    return pa.table(
        {("ts" if k == "timestamp" else k): pa.array([r[k] for r in rows], types.get(k, pa.string())) for k in names}
    )


def _with_candidates(targets: list[dict[str, Any]], seed: int) -> None:
    """Give each target a shuffled list of candidates with nasty texts, the target among them."""
    rng = random.Random(seed)
    for n, t in enumerate(targets):
        ids = [f"{rng.choice(IDS)}#{n}-{j}" for j in range(rng.randrange(2, 7))]
        t["item_id"] = rng.choice(ids)
        t["candidates"] = [
            {
                "item_id": i,
                **{f: rng.choice(NASTY) for f in ITEM_FIELDS},
                "avg_rating": rng.choice([None, 1.0, 3.3333333333333335, 4.125, 4.994999]),
            }
            for i in ids
        ]


@pytest.mark.parametrize(
    "task",
    [
        TaskConfig(name="ranking"),
        TaskConfig(name="like", like_threshold=3.0),
        TaskConfig(name="like", label_column=True),
    ],
    ids=["ranking", "like", "like-label"],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_column_wise_rendering_equals_build_row(tmp_path, task, seed):
    budgets = TextBudgets(review=40, title=25, description=60, candidate=30)
    targets = _raw_targets(seed, 50)
    ranking = task.name == "ranking"
    if ranking:
        _with_candidates(targets, seed)
        for t in targets:
            t["item_history"], t["item_avg_rating"] = [], None
    for n, t in enumerate(targets):
        t["label"] = float(n % 2)
    expected_cleaner, cleaner = TextCleaner(), TextCleaner()
    kwargs = {"data_source": f"reczero/t/{task.name}", "split": "test", "rating_min": 1.0, "rating_max": 5.0}
    expected = pa.Table.from_pylist(
        [
            build_row(t, index=i, budgets=budgets, cleaner=expected_cleaner, task=task, **kwargs)
            for i, t in enumerate(targets)
        ],
        schema=SAMPLE_SCHEMA,
    )
    uh = [h for t in targets for h in t["user_history"]]
    ih = [h for t in targets for h in t["item_history"]]
    user = _store(
        tmp_path,
        "u",
        samples.USER_HISTORY_STORE,
        samples.user_history_rows(_column_table(uh, ("item_id", "rating", "timestamp", "title", "review")), budgets),
    )
    item = _store(
        tmp_path,
        "i",
        samples.ITEM_HISTORY_STORE,
        samples.item_history_rows(_column_table(ih, ("user_id", "rating", "timestamp", "review")), budgets),
    )
    u_len = np.array([len(t["user_history"]) for t in targets])
    i_len = np.array([len(t["item_history"]) for t in targets])
    n = len(targets)
    chunk = pa.table(
        {
            "idx": pa.array(range(n), pa.int64()),
            "user_id": pa.array([t["user_id"] for t in targets], pa.string()),
            "rating": pa.array([t["rating"] for t in targets], pa.float64()),
            "ts": pa.array([t["timestamp"] for t in targets], pa.int64()),
            "u_len": pa.array(u_len),
            "i_len": pa.array(i_len),
            "u_avg": pa.array([t["user_avg_rating"] for t in targets], pa.float64()),
            "i_avg": pa.array([t["item_avg_rating"] for t in targets], pa.float64()),
            "label": pa.array([t["label"] for t in targets], pa.float64()),
        }
    )
    items = candidates = None
    if ranking:
        flat = [c for t in targets for c in t["candidates"]]
        store = _store(
            tmp_path,
            "c",
            samples.CANDIDATE_ITEM_STORE,
            samples.candidate_item_rows(_column_table(flat, ("item_id", *ITEM_FIELDS)), budgets),
        )
        order = np.random.default_rng(seed).permutation(len(flat))  # read back in any order: same rows
        fixed, texts = store.read_ranges(order, np.ones(len(flat), np.int64))
        back = np.argsort(order)
        candidates = CandidateRows(
            Gathered(fixed[back], {k: v.take(pa.array(back)) for k, v in texts.items()}),
            np.array([np.nan if c["avg_rating"] is None else c["avg_rating"] for c in flat]),
            np.array([len(t["candidates"]) for t in targets]),
            np.array([[c["item_id"] for c in t["candidates"]].index(t["item_id"]) + 1 for t in targets]),
        )
    else:
        found = [{"item_id": t["item_id"], **t["target_item"]} for t in targets]
        store = _store(
            tmp_path,
            "t",
            samples.TARGET_ITEM_STORE,
            samples.target_item_rows(_column_table(found, ("item_id", *ITEM_FIELDS)), budgets),
        )
        items = Gathered(*store.read_ranges(np.arange(n), np.ones(n, np.int64)))
    u_start, i_start = np.cumsum(u_len) - u_len, np.cumsum(i_len) - i_len
    got = render_chunk(
        chunk,
        Gathered(*user.read_ranges(u_start, u_len)),
        Gathered(*item.read_ranges(i_start, i_len)),
        items,
        cleaner=cleaner,
        task=task,
        candidates=candidates,
        **kwargs,
    )
    for name in SAMPLE_SCHEMA.names:
        assert got[name].to_pylist() == expected[name].to_pylist(), name
    assert got.equals(expected)
    assert cleaner.as_dict() == expected_cleaner.as_dict() and cleaner.as_dict()["values_changed"] > 0


# ---------------------------------------------------------------------------------------------------------------
# verl: RecZeroDataset loads the rows; stats.json records the task
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verl_data() -> dict[str, Any]:
    """verl's ``data`` defaults (``ppo_trainer`` composed by hydra)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return OmegaConf.to_container(compose(config_name="ppo_trainer").data, resolve=True)


@pytest.mark.parametrize("task", ["ranking", "like"])
def test_prepared_tasks_go_through_verl(tiny_tokenizer, verl_data, tmp_path, task):
    """``prepare --task`` on the bundled sample, then verl's ``create_rl_dataset`` with ``RecZeroDataset``: every row
    is rendered again for its own task, to exactly the prompt prepare wrote."""
    from importlib.resources import files

    from tests.test_dataset import build, data_config, n_tokens

    sample = files("reczero_verl") / "sample_data"
    out = tmp_path / task
    stats = prepare(
        "amazon",
        "--reviews",
        sample / "amazon2018_sample_reviews.json.gz",
        "--meta",
        sample / "amazon2018_sample_meta.json.gz",
        "--output-dir",
        out,
        "--max-train",
        12,
        "--max-test",
        4,
        "--task",
        task,
    )
    assert stats["data_source"] == f"reczero/amazon/{task}" and stats["run"]["options"]["task"] == task
    paths = [str(out / "train.parquet"), str(out / "test.parquet")]
    stored = read_all(out)
    limit = 8192
    ds = build(paths, data_config(verl_data, tmp_path, max_prompt_length=limit), tiny_tokenizer)
    assert len(ds) == len(stored) == 16 and ds.budget_report.overlong == 0
    for i, row in enumerate(stored):
        item = ds[i]
        assert item["raw_prompt"] == row["prompt"]
        assert n_tokens(tiny_tokenizer, item["raw_prompt"]) <= limit
