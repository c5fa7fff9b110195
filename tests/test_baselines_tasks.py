# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl baselines`` on ranking and like rows (issue 12): the counting primitives against brute force, a small
world checked against a brute-force reference (nothing at or after a target's time, no test target as such), BPR on a
known structure, and the command line with ``evaluate --baselines``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.evaluation import task_baselines as T
from reczero_verl.evaluation.baselines import BaselineSettings, run_baselines, training_events
from tests.builders import like_row, prepared_row, ranked, ranking_row, write_generations, write_prepared

R, L = "reczero/w/ranking", "reczero/w/like"
SPLIT_TIME = 18  # targets at or after it are test targets: a time split, tie groups whole
THRESHOLD = 4.0
FAST = T.TaskBaselineSettings(bpr_epochs=5, bpr_factors=4)


# ---------------------------------------------------------------------------------------------------------------------
# Primitives against brute force


def test_counts_before_equals_brute_force():
    rng = np.random.default_rng(3)
    events = pd.DataFrame({"s": rng.choice(["a", "b"], 200), "k": rng.choice(list("wxyz"), 200)})
    e_times = rng.integers(0, 12, 200)
    weights = rng.integers(0, 2, 200).astype(float)
    queries = pd.DataFrame({"s": rng.choice(["a", "b", "c"], 90), "k": rng.choice(list("wxyzv"), 90)})
    q_times = rng.integers(0, 13, 90)
    got = T.counts_before(events, e_times, queries, q_times)
    got_w = T.counts_before(events, e_times, queries, q_times, weights=weights)
    for n, q in enumerate(queries.itertuples(index=False)):
        mine = (events["s"] == q.s).to_numpy() & (events["k"] == q.k).to_numpy() & (e_times < q_times[n])
        assert got[n] == mine.sum()  # an event at the query's own time does not count
        assert got_w[n] == weights[mine].sum()


def test_target_positions_equal_a_sort():
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 8, 50)
    rows = np.repeat(np.arange(50), sizes)
    scores = rng.integers(0, 4, len(rows)).astype(float)  # many ties
    scores[rng.random(len(rows)) < 0.1] = np.nan
    ties = rng.random(len(rows))
    is_target = np.zeros(len(rows), dtype=bool)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    is_target[starts + rng.integers(0, sizes)] = True
    got = T.target_positions(rows, scores, is_target, ties)
    for r in range(50):
        mine = np.flatnonzero(rows == r)
        order = sorted(mine, key=lambda k: (-(scores[k] if not np.isnan(scores[k]) else -np.inf), ties[k]))
        assert got[r] == 1 + order.index(mine[is_target[mine]][0])


def test_a_constant_score_is_a_uniform_random_ranking():
    rows = np.repeat(np.arange(4000), 4)
    is_target = np.tile([False, False, True, False], 4000)
    ties = np.random.default_rng(0).random(len(rows))
    positions = T.target_positions(rows, np.zeros(len(rows)), is_target, ties)
    counts = np.bincount(positions, minlength=5)[1:] / 4000
    np.testing.assert_allclose(counts, 0.25, atol=0.03)


def test_like_rates_by_hand():
    events = pd.DataFrame(
        {
            "data_source": L,
            "user_id": ["u", "u", "v", "u"],
            "item_id": ["a", "b", "a", "c"],
            "timestamp": [1, 2, 3, 9],
            "liked": [1.0, 0.0, 1.0, 1.0],
        }
    )
    targets = pd.DataFrame({"data_source": L, "user_id": ["u", "w"], "item_id": ["a", "a"], "timestamp": [9, 2]})
    rates = T.like_rates(events, targets, prior=2.0)
    # target 0 at t = 9: events at 1, 2, 3 (2 liked of 3); u: 1 of 2; a: 2 of 2 (the event at t = 9 is not before)
    np.testing.assert_allclose(rates["global_rate"], [2 / 3, 1.0])
    np.testing.assert_allclose(rates["user_rate"][0], (1 + 2 * 2 / 3) / (2 + 2))
    np.testing.assert_allclose(rates["item_rate"][0], (2 + 2 * 2 / 3) / (2 + 2))
    # target 1 at t = 2: only the event at t = 1 precedes it; w never seen -> the global rate
    np.testing.assert_allclose(rates["user_rate"][1], 1.0)
    np.testing.assert_allclose(rates["item_rate"][1], (1 + 2 * 1.0) / (1 + 2))
    no_prior = T.like_rates(events, targets, prior=0.0)
    np.testing.assert_allclose(no_prior["user_rate"], [0.5, 1.0])


# ---------------------------------------------------------------------------------------------------------------------
# A small world: every interaction is a target (ranking and like), histories hold the user's / item's earlier ones


def _world(seed: int, n_users: int = 7, n_items: int = 9, n_events: int = 45) -> list[dict]:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, size=n_events, replace=False)
    times = rng.integers(1, 26, n_events)  # ties across users
    ratings = rng.integers(1, 6, n_events).astype(float)
    events = [
        {"user": f"u{p // n_items}", "item": f"i{p % n_items}", "ts": int(t), "rating": float(r)}
        for p, t, r in zip(pairs, times, ratings, strict=True)
    ]
    return sorted(events, key=lambda e: (e["ts"], e["user"], e["item"]))


def _rows(world: list[dict], seed: int) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed + 1)
    items = sorted({e["item"] for e in world})
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for n, e in enumerate(world):
        split = "test" if e["ts"] >= SPLIT_TIME else "train"
        mine = [x for x in world if x["user"] == e["user"]]
        history = [
            {"item_id": x["item"], "rating": x["rating"], "timestamp": x["ts"]} for x in mine if x["ts"] < e["ts"]
        ]
        item_history = [
            {"user_id": x["user"], "rating": x["rating"], "timestamp": x["ts"]}
            for x in world
            if x["item"] == e["item"] and x["ts"] < e["ts"]
        ]
        negatives = [i for i in items if i not in {x["item"] for x in mine}]
        if negatives:
            candidates = [e["item"], *rng.choice(negatives, size=min(3, len(negatives)), replace=False).tolist()]
            rng.shuffle(candidates)
            common = {"timestamp": e["ts"], "split": split, "user_history": history}
            rows[split].append(ranking_row(2 * n, e["user"], e["item"], candidates, source=R, **common))
        label = int(e["rating"] >= THRESHOLD)
        rows[split].append(
            like_row(
                2 * n + 1,
                e["user"],
                e["item"],
                label,
                timestamp=e["ts"],
                split=split,
                source=L,
                user_history=history,
                item_history=item_history,
            )
        )
    return rows


def _files(tmp_path: Path, seed: int = 11) -> tuple[Path, Path, dict[str, list[dict]]]:
    rows = _rows(_world(seed), seed)
    return (
        write_prepared(tmp_path / "train.parquet", rows["train"]),
        write_prepared(tmp_path / "test.parquet", rows["test"]),
        rows,
    )


def _visible_pool(rows: dict[str, list[dict]], source: str) -> dict[tuple, float]:
    """Brute force of the documented rule: train targets and every history entry of train and test rows, with the
    like label where the row states one: ``{(user, item, ts): label or NaN}``."""
    pool: dict[tuple, float] = {}
    for split, split_rows in rows.items():
        for row in split_rows:
            if row["data_source"] != source:
                continue
            extra = row["extra_info"]
            is_like = extra["task"] == "like"
            if split == "train":
                label = row["reward_model"]["ground_truth"] if is_like else math.nan
                pool[(extra["user_id"], extra["item_id"], extra["timestamp"])] = label
            for h in row["user_history"]:
                label = float(h["rating"] >= THRESHOLD) if is_like else math.nan
                pool[(extra["user_id"], h["item_id"], h["timestamp"])] = label
            for h in row["item_history"]:
                label = float(h["rating"] >= THRESHOLD) if is_like else math.nan
                pool[(h["user_id"], extra["item_id"], h["timestamp"])] = label
    return pool


def test_popularity_and_like_rates_equal_a_brute_force_reference(tmp_path):
    train, test, rows = _files(tmp_path)
    _, frames = run_baselines([train], test, settings=BaselineSettings(use_mf=False), task_settings=FAST)
    ranking_pool = _visible_pool(rows, R)
    assert len(rows["test"]) > 10 and len(rows["train"]) > 10
    popularity = frames["ranking"]["popularity"].set_index("index")
    for row in (r for r in rows["test"] if r["extra_info"]["task"] == "ranking"):
        extra, t = row["extra_info"], row["extra_info"]["timestamp"]
        counts = [sum(1 for (_, i, ts) in ranking_pool if i == c and ts < t) for c in extra["candidates"]]
        target = counts[extra["candidates"].index(extra["item_id"])]
        position = popularity.loc[extra["index"], "position"]
        # the position lies within the target's tie group (ties are broken at random)
        assert 1 + sum(c > target for c in counts) <= position <= sum(c >= target for c in counts)
    like_pool = _visible_pool(rows, L)
    labelled = [(u, i, ts, y) for (u, i, ts), y in like_pool.items() if not math.isnan(y)]
    prior = FAST.like_prior
    probs = {
        name: frames["like"][name].set_index("index")["prob"] for name in ("global_rate", "user_rate", "item_rate")
    }
    for row in (r for r in rows["test"] if r["extra_info"]["task"] == "like"):
        extra, t = row["extra_info"], row["extra_info"]["timestamp"]
        before = [x for x in labelled if x[2] < t]
        g = sum(x[3] for x in before) / len(before) if before else 0.5
        assert probs["global_rate"][extra["index"]] == pytest.approx(g, abs=1e-12)
        for name, pos, key in (("user_rate", 0, extra["user_id"]), ("item_rate", 1, extra["item_id"])):
            mine = [x[3] for x in before if x[pos] == key]
            expected = (sum(mine) + prior * g) / (len(mine) + prior)
            assert probs[name][extra["index"]] == pytest.approx(expected, abs=1e-12)


def test_training_events_are_the_documented_pool(tmp_path):
    """Train targets and history entries of train and test rows; a test target only where a later row shows it."""
    train, test, rows = _files(tmp_path)
    events = training_events([train], test)
    got = {(s, u, i, int(t)): y for s, u, i, t, y in events.itertuples(index=False)}
    expected = {(src, *k): y for src in (R, L) for k, y in _visible_pool(rows, src).items()}
    assert got.keys() == expected.keys()
    assert all((math.isnan(y) and math.isnan(got[k])) or got[k] == y for k, y in expected.items())
    test_pairs = {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]) for r in rows["test"]}
    assert test_pairs - {(u, i) for _, u, i, _ in got}, "some test target must be absent (shown in no history)"
    only_targets = training_events([train], test, "targets")
    assert len(only_targets) == len(rows["train"]) and set(only_targets["timestamp"]) < set(range(SPLIT_TIME))


def test_bpr_learns_only_from_pairs_before_the_test_period(tmp_path, monkeypatch):
    train, test, rows = _files(tmp_path)
    seen: list[set] = []
    fit = T.fit_bpr

    def spy(pairs, settings):
        seen.append(set(zip(pairs["user_id"], pairs["item_id"], strict=True)))
        return fit(pairs, settings)

    monkeypatch.setattr(T, "fit_bpr", spy)
    run_baselines([train], test, settings=BaselineSettings(use_mf=False), task_settings=FAST)
    cutoff = min(r["extra_info"]["timestamp"] for r in rows["test"] if r["data_source"] == R)
    assert cutoff >= SPLIT_TIME
    expected = {(u, i) for (u, i, ts) in _visible_pool(rows, R) if ts < cutoff}
    assert seen == [expected]
    # and never a test target
    assert not expected & {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]) for r in rows["test"]}


def test_events_at_or_after_a_target_change_nothing_of_its_prediction(tmp_path):
    """A later row whose histories add events at or after time T0 (T0 itself included) changes no prediction of a
    target at or before T0, and does change later ones (so the check can fail)."""
    train, test, rows = _files(tmp_path)
    settings = BaselineSettings(use_mf=False)
    _, before = run_baselines([train], test, settings=settings, task_settings=FAST)
    times = sorted(r["extra_info"]["timestamp"] for r in rows["test"])
    t0 = times[len(times) // 2]
    items = [f"i{k}" for k in range(9)]
    future = [{"item_id": items[k % 9], "rating": 5.0, "timestamp": t0 + k % 3} for k in range(27)]
    raters = [{"user_id": f"u{k % 7}", "rating": 5.0, "timestamp": t0 + k % 3} for k in range(14)]
    later = [
        ranking_row(1000, "new", "i0", ["i0", "zz"], timestamp=99, source=R, user_history=future),
        like_row(1001, "new", "i0", 1, timestamp=99, source=L, user_history=future, item_history=raters),
    ]
    more = write_prepared(tmp_path / "test_more.parquet", rows["test"] + later)
    _, after = run_baselines([train], more, settings=settings, task_settings=FAST)
    changed = 0
    for task, named in before.items():
        answer = "position" if task == "ranking" else "prob"
        when = {r["extra_info"]["index"]: r["extra_info"]["timestamp"] for r in rows["test"]}
        for name, frame in named.items():
            old = frame.set_index("index")[answer]
            new = after[task][name].set_index("index")[answer].loc[old.index]
            early = [i for i in old.index if when[i] <= t0]
            pd.testing.assert_series_equal(old.loc[early], new.loc[early], check_exact=True, obj=f"{task}/{name}")
            changed += int((old != new).sum())
    assert changed > 0


def test_deterministic(tmp_path):
    train, test, _ = _files(tmp_path)
    first, _ = run_baselines([train], test, settings=BaselineSettings(use_mf=False), task_settings=FAST)
    second, _ = run_baselines([train], test, settings=BaselineSettings(use_mf=False), task_settings=FAST)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


# ---------------------------------------------------------------------------------------------------------------------
# BPR on a known structure: two communities of users and items


def _communities(tmp_path: Path) -> tuple[Path, Path]:
    """Users of community c interact only with items of community c; both have the same popularity. Each test row's
    candidates: its target and three items of the other community."""
    rng = np.random.default_rng(2)
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    n = 0
    for user in range(40):
        community = user % 2
        own = [f"i{community}_{k}" for k in range(10)]
        other = [f"i{1 - community}_{k}" for k in range(10)]
        chosen = rng.choice(own, size=6, replace=False).tolist()
        for step, item in enumerate(chosen):
            split = "test" if step == 5 else "train"
            candidates = [item, *rng.choice(other, size=3, replace=False).tolist()]
            rng.shuffle(candidates)
            ts = 10 * step + user % 7
            rows[split].append(ranking_row(n, f"u{user}", item, candidates, timestamp=100 + ts, split=split, source=R))
            n += 1
    return write_prepared(tmp_path / "train.parquet", rows["train"]), write_prepared(
        tmp_path / "test.parquet", rows["test"]
    )


def test_bpr_finds_the_communities_that_popularity_cannot(tmp_path):
    train, test = _communities(tmp_path)
    settings = T.TaskBaselineSettings(bpr_epochs=200, bpr_factors=8)
    metrics, _ = run_baselines([train], test, settings=BaselineSettings(use_mf=False), task_settings=settings)
    overall = metrics["by_task"]["ranking"]["overall"]
    assert overall["bpr"]["hr@1"] > 0.9
    assert overall["random"]["hr@1"] < 0.5 and overall["popularity"]["hr@1"] < 0.6
    assert metrics["by_task"]["ranking"]["fits"][R]["bpr_unseen_user_rate"] == 0.0


# ---------------------------------------------------------------------------------------------------------------------
# Command line, evaluate --baselines, refusals


def test_cli_mixed_files_and_evaluate_with_baselines(tmp_path):
    train, test, rows = _files(tmp_path)
    rating_train = write_prepared(
        tmp_path / "rating_train.parquet", [prepared_row(0, "u0", "i0", 3.0, split="train", timestamp=1)]
    )
    mixed_rows = [*rows["test"], prepared_row(5000, "u0", "i1", 4.0, timestamp=30)]
    mixed = write_prepared(tmp_path / "mixed.parquet", mixed_rows)
    out = tmp_path / "base"
    args = ["baselines", "--train", str(train), str(rating_train), "--test", str(mixed), "--output-dir", str(out)]
    assert cli_main([*args, "--no-mf", "--bpr-epochs", "5"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tasks"] == ["rating", "ranking", "like"]
    assert set(metrics["by_task"]["ranking"]["overall"]) == {"random", "popularity", "bpr"}
    assert set(metrics["by_task"]["like"]["overall"]) == {"random", "global_rate", "user_rate", "item_rate"}
    assert metrics["task_settings"]["bpr_epochs"] == 5
    report = (out / "report.md").read_text()
    assert "## Rating" in report and "## Ranking" in report and "## Like" in report
    assert (out / "plots" / "reczero_w_like_reliability.png").is_file()
    table = pd.read_parquet(out / "predictions.parquet")
    assert table["index"].tolist() == sorted(r["extra_info"]["index"] for r in mixed_rows)
    assert {"popularity_position", "user_rate_prob", "global_mean_pred"} <= set(table.columns)
    # evaluate recognises the test set and shows the baselines beside the model, per task
    records = [
        {
            "index": r["extra_info"]["index"],
            "sample": 0,
            "response": ranked("1") if r["extra_info"].get("task") == "ranking" else "<like>0.5</like>",
        }
        for r in mixed_rows
    ]
    gens = write_generations(tmp_path / "g.jsonl", records, mixed)
    ev = ["evaluate", "--data", str(mixed), "--generations", str(gens), "--output-dir", str(tmp_path / "ev")]
    assert cli_main([*ev, "--baselines", str(out / "metrics.json")]) == 0
    report = (tmp_path / "ev" / "report.md").read_text()
    assert "| baseline: bpr |" in report and "| baseline: item_rate |" in report
    # baselines of another test set are refused, naming the first difference
    assert cli_main([*ev[:2], str(test), *ev[3:], "--baselines", str(out / "metrics.json")]) == 2


def test_no_training_events_for_a_source_is_refused(tmp_path, caplog):
    train = write_prepared(tmp_path / "train.parquet", [prepared_row(0, "u", "a", 4.0, split="train", timestamp=1)])
    test = write_prepared(tmp_path / "test.parquet", [ranking_row(0, "u", "a", ["a", "b"], timestamp=5, source=R)])
    out = tmp_path / "b"
    assert cli_main(["baselines", "--train", str(train), "--test", str(test), "--output-dir", str(out)]) == 2
    assert "no training events for data_source 'reczero/w/ranking'" in caplog.text
    assert not out.exists()


def test_bad_task_options_are_refused(caplog):
    assert cli_main(["baselines", "--train", "a", "--test", "b", "--output-dir", "c", "--bpr-lr", "0"]) == 2
    assert "--bpr-lr must be more than 0" in caplog.text
    with pytest.raises(Exception, match="--like-prior"):
        T.TaskBaselineSettings(like_prior=-1.0)


def test_targets_without_a_timestamp_are_refused_before_any_training_data_is_read(tmp_path, caplog):
    train = write_prepared(tmp_path / "train.parquet", [like_row(0, "u", "a", 1, split="train", timestamp=None)])
    test = write_prepared(tmp_path / "test.parquet", [like_row(1, "u", "b", 0, timestamp=None, source=L)])
    out = tmp_path / "b"
    assert cli_main(["baselines", "--train", str(train), "--test", str(test), "--output-dir", str(out)]) == 2
    assert "test.parquet: like row(s) without extra_info.timestamp" in caplog.text
    assert "extra_info.index 1" in caplog.text
    assert "event(s) without a timestamp" not in caplog.text
