# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl baselines``: hand-computed means, leakage-free training set, ordering on a known generating model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.errors import BadInputError
from reczero_verl.evaluation.baselines import (
    BaselinesConfig,
    BaselineSettings,
    fit_biases,
    run_baselines,
    training_interactions,
    write_baselines_report,
)
from reczero_verl.evaluation.data import load_targets
from reczero_verl.evaluation.evaluate import EvaluateConfig, write_evaluation_report
from tests.builders import prepared_row, write_generations, write_prepared

TOL = 1e-9


def _hand_files(tmp_path):
    train = write_prepared(
        tmp_path / "train.parquet",
        [
            prepared_row(0, "u1", "i1", 5.0, split="train", timestamp=10),
            prepared_row(1, "u1", "i2", 3.0, split="train", timestamp=11),
            prepared_row(2, "u2", "i1", 2.0, split="train", timestamp=12),
        ],
    )
    test = write_prepared(
        tmp_path / "test.parquet",
        [
            prepared_row(0, "u1", "i3", 4.0, timestamp=20),
            prepared_row(1, "u3", "i1", 1.0, timestamp=21),
            prepared_row(2, "u2", "i2", 2.0, timestamp=22),
        ],
    )
    return train, test


def test_means_and_fallbacks_by_hand(tmp_path):
    train, test = _hand_files(tmp_path)
    metrics, frames = run_baselines([train], test, settings=BaselineSettings(use_mf=False))
    mu = 10 / 3
    expected = {
        "global_mean": [mu, mu, mu],
        "user_mean": [4.0, mu, 2.0],  # u3 unseen -> global mean
        "item_mean": [mu, 3.5, 3.0],  # i3 unseen -> global mean
    }
    y = np.array([4.0, 1.0, 2.0])
    for name, pred in expected.items():
        np.testing.assert_allclose(frames["rating"][name]["pred"].to_numpy(), pred, rtol=0, atol=TOL)
        block = metrics["overall"][name]
        err = np.abs(np.array(pred) - y)
        assert block["mae"] == pytest.approx(err.mean(), abs=TOL)
        assert block["rmse"] == pytest.approx(np.sqrt((err**2).mean()), abs=TOL)
        assert block["coverage"] == 1.0 and block["format_ok_rate"] is None
    assert metrics["overall"]["user_mean"]["per_rating"]["1"]["mae"] == pytest.approx(mu - 1, abs=TOL)
    assert metrics["unseen"]["reczero/synthetic"] == {"unseen_user_rate": 1 / 3, "unseen_item_rate": 1 / 3}
    assert "mf" not in frames["rating"]


def test_fit_biases_is_the_ridge_minimiser():
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 6, 40), rng.integers(0, 5, 40)
    ratings = rng.uniform(1, 5, 40)
    reg = 2.0
    mu, b_u, b_i = fit_biases(users, items, ratings, 6, 5, reg, iters=500)
    # Closed form: ridge regression of (r - mu) on one-hot user and item indicators.
    x = np.zeros((40, 11))
    x[np.arange(40), users] = 1
    x[np.arange(40), 6 + items] = 1
    beta = np.linalg.solve(x.T @ x + reg * np.eye(11), x.T @ (ratings - ratings.mean()))
    assert mu == pytest.approx(ratings.mean(), abs=TOL)
    np.testing.assert_allclose(np.concatenate([b_u, b_i]), beta, rtol=0, atol=1e-9)


def test_visible_training_set_excludes_test_targets(tmp_path):
    train = write_prepared(
        tmp_path / "train.parquet",
        [
            prepared_row(
                0,
                "u1",
                "i1",
                5.0,
                split="train",
                timestamp=10,
                user_history=[{"item_id": "i9", "rating": 1.0, "timestamp": 5}],
            )
        ],
    )
    test = write_prepared(
        tmp_path / "test.parquet",
        [
            prepared_row(0, "u1", "i2", 4.0, timestamp=20),
            # u1's history here holds the earlier test target (u1, i2, t=20): it must not be trained on.
            prepared_row(
                1,
                "u1",
                "i3",
                2.0,
                timestamp=30,
                user_history=[{"item_id": "i2", "rating": 4.0, "timestamp": 20}],
                item_history=[{"user_id": "u7", "rating": 3.0, "timestamp": 25}],
            ),
        ],
    )
    targets = load_targets(test)
    visible = training_interactions([train], test, targets, "visible")
    pairs = set(zip(visible["user_id"], visible["item_id"], visible["rating"], strict=True))
    assert pairs == {("u1", "i1", 5.0), ("u1", "i9", 1.0), ("u7", "i3", 3.0)}
    only_targets = training_interactions([train], test, targets, "targets")
    assert set(zip(only_targets["user_id"], only_targets["item_id"], strict=True)) == {("u1", "i1")}


def _synthetic(tmp_path, low_rank: bool):
    """Ratings from mu + b_u + b_i (+ a rank-2 interaction when ``low_rank``) + small noise; 25% held out."""
    rng = np.random.default_rng(7)
    n_users, n_items = 80, 50
    b_u, b_i = rng.normal(0, 0.6, n_users), rng.normal(0, 0.6, n_items)
    interaction = (rng.normal(0, 1.0, (n_users, 2)) @ rng.normal(0, 1.0, (2, n_items))) if low_rank else 0.0
    full = np.clip(3.0 + b_u[:, None] + b_i[None, :] + interaction + rng.normal(0, 0.1, (n_users, n_items)), 1, 5)
    observed = np.argwhere(rng.random((n_users, n_items)) < 0.5)
    rng.shuffle(observed)
    n_test = len(observed) // 4
    rows = {"train": [], "test": []}
    for k, (u, i) in enumerate(observed):
        split = "test" if k < n_test else "train"
        rows[split].append(
            prepared_row(len(rows[split]), f"u{u}", f"i{i}", float(full[u, i]), split=split, timestamp=k)
        )
    return write_prepared(tmp_path / "train.parquet", rows["train"]), write_prepared(
        tmp_path / "test.parquet", rows["test"]
    )


def test_ordering_on_a_known_generating_model(tmp_path):
    train, test = _synthetic(tmp_path, low_rank=True)
    metrics, _ = run_baselines([train], test, settings=BaselineSettings(mf_factors=4, mf_epochs=200, mf_lr=0.02))
    mae = {name: block["mae"] for name, block in metrics["overall"].items()}
    assert mae["biased"] < mae["user_mean"] < mae["global_mean"]
    assert mae["biased"] < mae["item_mean"] < mae["global_mean"]
    assert mae["mf"] < 0.8 * mae["biased"], mae  # the rank-2 interaction is only learnable by MF


def test_biased_is_near_the_noise_without_interactions(tmp_path):
    train, test = _synthetic(tmp_path, low_rank=False)
    metrics, _ = run_baselines([train], test, settings=BaselineSettings(use_mf=False, bias_reg=1.0))
    assert metrics["overall"]["biased"]["mae"] < 0.5 * metrics["overall"]["global_mean"]["mae"]


def test_python_api_writes_both_reports_without_argv(tmp_path):
    train, test = _hand_files(tmp_path)
    settings = BaselineSettings(use_mf=False)
    published = write_baselines_report(
        BaselinesConfig(train=[train], test=test, output_dir=tmp_path / "b", settings=settings)
    )
    assert published.report == tmp_path / "b" / "report.md" and published.report.is_file()
    assert published.metrics == json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert published.metrics["overall"] == run_baselines([train], test, settings=settings)[0]["overall"]
    gens = write_generations(
        tmp_path / "gen.jsonl", [{"index": i, "sample": 0, "response": "<rate>3</rate>"} for i in range(3)], test
    )
    config = EvaluateConfig(
        data=test, generations=gens, output_dir=tmp_path / "e", baselines=tmp_path / "b" / "metrics.json"
    )
    evaluated = write_evaluation_report(config)
    assert evaluated.metrics["baselines"] == str(tmp_path / "b" / "metrics.json")
    assert "| baseline: item_mean | 3 |" in evaluated.report.read_text()
    with pytest.raises(BadInputError, match="--mf-factors must be at least 1, got 0"):
        BaselineSettings(mf_factors=0)
    with pytest.raises(BadInputError, match="--train-on must be one of visible, targets"):
        BaselinesConfig(train=[train], test=test, output_dir=tmp_path / "x", train_on="all")


def test_cli_and_evaluate_comparison(tmp_path):
    train, test = _hand_files(tmp_path)
    out = tmp_path / "baselines"
    assert cli_main(["baselines", "--train", str(train), "--test", str(test), "--output-dir", str(out), "--no-mf"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "baselines" and metrics["n_targets"] == 3
    assert (out / "plots" / "reczero_synthetic_per_rating_mae.png").read_bytes()[:4] == b"\x89PNG"
    assert "| user_mean | 3 |" in (out / "report.md").read_text()
    gens = write_generations(
        tmp_path / "gen.jsonl", [{"index": i, "sample": 0, "response": "<rate>3</rate>"} for i in range(3)], test
    )
    ev = tmp_path / "eval"
    args = ["evaluate", "--data", str(test), "--generations", str(gens), "--output-dir", str(ev)]
    assert cli_main([*args, "--baselines", str(out / "metrics.json")]) == 0
    assert "| baseline: item_mean | 3 |" in (ev / "report.md").read_text()
    other = write_prepared(tmp_path / "other.parquet", [prepared_row(0, "u1", "i3", 4.0)])
    gens1 = write_generations(tmp_path / "gen1.jsonl", [{"index": 0, "sample": 0, "response": "x"}], other)
    bad = ["evaluate", "--data", str(other), "--generations", str(gens1), "--output-dir", str(ev)]
    assert cli_main([*bad, "--baselines", str(out / "metrics.json")]) == 2


def test_end_to_end_on_real_prepare_output(shared_data, tmp_path):
    """Real Amazon 2018 reviews -> `prepare` -> `baselines`; then `evaluate` agrees with the baselines' own scoring."""
    import pandas as pd

    reviews = shared_data / "amazon2018_fashion_5core" / "AMAZON_FASHION_5.json"
    if not reviews.is_file():
        pytest.skip(f"{reviews} is absent")
    prep = tmp_path / "prep"
    assert cli_main(["prepare", "amazon", "--reviews", str(reviews), "--output-dir", str(prep)]) == 0
    out = tmp_path / "baselines"
    args = ["baselines", "--train", str(prep / "train.parquet"), "--test", str(prep / "test.parquet")]
    assert cli_main([*args, "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    test = load_targets(prep / "test.parquet")
    assert metrics["n_targets"] == len(test) > 0
    assert set(metrics["overall"]) == {"global_mean", "user_mean", "item_mean", "biased", "mf"}
    for block in metrics["overall"].values():
        assert 0.0 <= block["mae"] <= block["rmse"] <= 4.0
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert predictions["index"].tolist() == test["index"].tolist()
    assert predictions.filter(like="_pred").stack().between(1.0, 5.0).all()
    # The same predictions written as answers and scored by `evaluate` give the same MAE / RMSE.
    gens = write_generations(
        tmp_path / "gen.jsonl",
        [
            {"index": int(i), "sample": 0, "response": f"<rate>{float(p)!r}</rate>"}
            for i, p in zip(predictions["index"], predictions["biased_pred"], strict=True)
        ],
        prep / "test.parquet",
    )
    ev = tmp_path / "eval"
    evaluate_args = ["evaluate", "--data", str(prep / "test.parquet"), "--generations", str(gens)]
    assert cli_main([*evaluate_args, "--output-dir", str(ev), "--baselines", str(out / "metrics.json")]) == 0
    scored = json.loads((ev / "metrics.json").read_text())["overall"]["first_sample"]
    assert scored["mae"] == pytest.approx(metrics["overall"]["biased"]["mae"], abs=1e-9)
    assert scored["rmse"] == pytest.approx(metrics["overall"]["biased"]["rmse"], abs=1e-9)
