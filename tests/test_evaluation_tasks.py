# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl evaluate`` on ranking and like rows (issue 12): every figure against a hand computation, files that
mix the tasks, and the command line."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.evaluation import metrics as M
from reczero_verl.evaluation.data import EvaluationInputError
from reczero_verl.evaluation.evaluate import evaluate
from tests.builders import (
    like_row,
    liked,
    prepared_row,
    ranked,
    ranking_row,
    tbr,
    write_generations,
    write_prepared,
)

R, L = "reczero/x/ranking", "reczero/x/like"
TOL = 1e-12
CANDIDATES = [f"c{k:02d}" for k in range(1, 13)]  # M = 12: the cut-offs 5 and 10 both bite
HISTORY = [{"item_id": "h1", "rating": 5.0, "timestamp": 1}, {"item_id": "h2", "rating": 2.0, "timestamp": 2}]


def _close(a, b):
    assert a == pytest.approx(b, abs=TOL, rel=0)


# ---------------------------------------------------------------------------------------------------------------------
# Pure metric functions


def test_auc_counts_ties_one_half_by_hand():
    y = np.array([1, 0, 1, 0, 1])
    p = np.array([0.8, 0.8, 0.5, 0.2, 0.5])
    # positive/negative pairs: (.8,.8) 1/2, (.8,.2) 1, (.5,.8) 0, (.5,.2) 1, (.5,.8) 0, (.5,.2) 1
    _close(M.auc(y, p), 3.5 / 6)
    _close(M.auc(y, np.full(5, 0.3)), 0.5)  # a constant prediction ranks nothing
    _close(M.auc(1 - y, p), 1 - 3.5 / 6)
    assert M.auc(np.ones(3), np.array([0.1, 0.2, 0.3])) is None  # one class only: undefined, not 0.5


def test_auc_equals_the_pairwise_definition_on_random_data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    p = rng.integers(0, 7, 60) / 6  # many ties
    pos, neg = p[y == 1], p[y == 0]
    pairs = [(a > b) + 0.5 * (a == b) for a in pos for b in neg]
    _close(M.auc(y, p), sum(pairs) / len(pairs))


def test_log_loss_clips_certain_answers():
    _close(M.log_loss(np.array([1.0]), np.array([0.0])), -math.log(1e-6))
    assert M.log_loss(np.array([0.0]), np.array([1.0])) == pytest.approx(-math.log(1e-6), abs=1e-9)
    _close(M.log_loss(np.array([1.0, 0.0]), np.array([1.0, 0.0])), -math.log(1 - 1e-6))
    _close(M.log_loss(np.array([1.0, 0.0]), np.array([0.8, 0.4])), -(math.log(0.8) + math.log(0.6)) / 2)


def test_calibration_bins_by_hand():
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.05, 0.12, 0.18, 0.55, 1.0])  # p = 1 falls in the last bin
    bins = M.calibration_bins(y, p)
    assert [(b["low"], b["n"]) for b in bins] == [(0.0, 1), (0.1, 2), (0.5, 1), (0.9, 1)]
    _close(bins[1]["mean_prob"], 0.15)
    _close(bins[1]["positive_rate"], 1.0)


def _ranking_frame(positions, m=12, parsed=None):
    n = len(positions)
    return pd.DataFrame(
        {
            "index": range(n),
            "data_source": R,
            "y": 1.0,
            "n_candidates": m,
            "position": positions,
            "listed": [p < m for p in positions],
            "parsed": [True] * n if parsed is None else parsed,
            "format_ok": 1.0,
        }
    )


def test_ranking_block_by_hand():
    block = M.ranking_block(_ranking_frame([1, 3, 12, 7, 11], parsed=[True, True, False, True, True]))
    _close(block["hr@1"], 1 / 5)
    _close(block["hr@5"], 2 / 5)
    _close(block["hr@10"], 3 / 5)
    _close(block["ndcg@5"], (1 + 1 / math.log2(4)) / 5)
    _close(block["ndcg@10"], (1 + 1 / math.log2(4) + 1 / math.log2(8)) / 5)
    _close(block["ndcg"], (1 + 1 / 2 + 1 / math.log2(13) + 1 / 3 + 1 / math.log2(12)) / 5)
    _close(block["mrr"], (1 + 1 / 3 + 1 / 12 + 1 / 7 + 1 / 11) / 5)
    _close(block["coverage"], 4 / 5)
    _close(block["mean_position"], 34 / 5)


def test_ranking_block_refuses_a_position_outside_the_candidates():
    with pytest.raises(ValueError, match="1..n_candidates"):
        M.ranking_block(_ranking_frame([0, 3]))
    with pytest.raises(ValueError, match="1..n_candidates"):
        M.ranking_block(_ranking_frame([13, 3]))


def test_history_bands():
    assert [M.history_band(n) for n in (0, 1, 2, 3, 10, 11, 50, 51, 400)] == [
        "0",
        "1-2",
        "1-2",
        "3-5",
        "6-10",
        "11-20",
        "21-50",
        "51+",
        "51+",
    ]
    assert M.history_band(None) is None


# ---------------------------------------------------------------------------------------------------------------------
# Ranking files: the reward's parser, the unparsed-last rule

# index -> (target, response). Positions by hand: 1, 3, M (not listed), M (unparsed), 7, M (a repeat: invalid list).
RANKING = {
    0: ("c03", ranked("3, 1")),
    1: ("c05", ranked("1, 2, 5")),
    2: ("c07", ranked("1, 2, 3, 4, 5, 6, 8")),
    3: ("c12", "I would pick the first one"),
    4: ("c01", ranked("2,3,4,5,6,7,1")),
    5: ("c02", ranked("2, 2")),
}
POSITIONS = [1, 3, 12, 12, 7, 12]


def _ranking_data(tmp_path, name="ranking.parquet"):
    rows = [
        ranking_row(i, f"u{i}", target, CANDIDATES, source=R, user_history=HISTORY[: i % 3])
        for i, (target, _) in RANKING.items()
    ]
    return write_prepared(tmp_path / name, rows)


def _ranking_records():
    return [{"index": i, "sample": 0, "response": response} for i, (_, response) in RANKING.items()]


def test_ranking_metrics_by_hand(tmp_path):
    data = _ranking_data(tmp_path)
    metrics, predictions = evaluate(data, write_generations(tmp_path / "g.jsonl", _ranking_records(), data))
    assert metrics["tasks"] == ["ranking"]
    block = metrics["by_task"]["ranking"]["overall"]["first_sample"]
    assert predictions["ranking"]["first_sample"]["position"].tolist() == POSITIONS
    _close(block["hr@1"], 1 / 6)
    _close(block["hr@5"], 2 / 6)
    _close(block["hr@10"], 3 / 6)
    _close(block["ndcg@5"], (1 + 0.5) / 6)
    _close(block["ndcg@10"], (1 + 0.5 + 1 / 3) / 6)
    _close(block["mrr"], (1 + 1 / 3 + 3 / 12 + 1 / 7) / 6)
    _close(block["coverage"], 4 / 6)
    _close(block["listed_rate"], 3 / 6)
    _close(block["format_ok_rate"], 4 / 6)
    assert block["n_parsed"] == 4
    # history lengths 0, 1, 2, 0, 1, 2: bands "0" (rows 0 and 3) and "1-2"
    bands = block["by_history_length"]
    assert {k: v["n"] for k, v in bands.items()} == {"0": 2, "1-2": 4}
    _close(bands["0"]["ndcg@10"], (1 + 0) / 2)
    _close(metrics["headline"]["ranking"]["ndcg@10"], block["ndcg@10"])


def test_ranking_per_sample_is_the_mean_over_samples(tmp_path):
    rows = [ranking_row(i, f"u{i}", "c01", CANDIDATES[:4], source=R) for i in range(2)]
    data = write_prepared(tmp_path / "r.parquet", rows)
    responses = {(0, 0): ranked("1"), (0, 1): ranked("2, 1"), (1, 0): "x", (1, 1): ranked("4, 3, 2, 1")}
    records = [{"index": i, "sample": s, "response": r} for (i, s), r in responses.items()]
    metrics, _ = evaluate(data, write_generations(tmp_path / "g.jsonl", records, data))
    section = metrics["by_task"]["ranking"]["overall"]
    assert set(section) == {"first_sample", "per_sample"}  # K rankings have no mean ranking
    _close(section["first_sample"]["mrr"], (1 + 1 / 4) / 2)  # row 1 unparsed: last of M = 4
    _close(section["per_sample"]["mrr"], (1 + 1 / 2 + 1 / 4 + 1 / 4) / 4)
    _close(section["per_sample"]["coverage"], 3 / 4)


def test_ranking_truth_must_be_a_candidate_number(tmp_path):
    row = ranking_row(0, "u", "c01", CANDIDATES[:3], source=R)
    row["reward_model"]["ground_truth"] = 4.0
    data = write_prepared(tmp_path / "r.parquet", [row])
    gens = write_generations(tmp_path / "g.jsonl", [{"index": 0, "sample": 0, "response": ranked("1")}], data)
    with pytest.raises(EvaluationInputError, match=r"r\.parquet: row 0 \(extra_info.index 0\).*candidate number"):
        evaluate(data, gens)


# ---------------------------------------------------------------------------------------------------------------------
# Like files: unparsed answers at p = 0.5, counted

# index -> (label, response); p = 0.9, 0.9, unparsed (0.5), 0, 1
LIKE = {
    0: (1, liked("0.9")),
    1: (0, liked("0.9")),
    2: (1, "<like>probably</like>"),
    3: (0, liked("0")),
    4: (1, liked("1")),
}


def _like_data(tmp_path, name="like.parquet"):
    rows = [like_row(i, f"u{i}", f"i{i}", label, source=L) for i, (label, _) in LIKE.items()]
    return write_prepared(tmp_path / name, rows)


def _like_records():
    return [{"index": i, "sample": 0, "response": response} for i, (_, response) in LIKE.items()]


def test_like_metrics_by_hand(tmp_path):
    data = _like_data(tmp_path)
    metrics, _ = evaluate(data, write_generations(tmp_path / "g.jsonl", _like_records(), data))
    block = metrics["by_task"]["like"]["overall"]["first_sample"]
    _close(block["auc"], 4.5 / 6)
    eps = 1e-6
    _close(block["logloss"], -(math.log(0.9) + math.log(0.1) + math.log(0.5) + 2 * math.log(1 - eps)) / 5)
    _close(block["brier"], (0.01 + 0.81 + 0.25 + 0 + 0) / 5)
    _close(block["accuracy"], 3.5 / 5)  # p = 0.5 is half right
    assert block["n_unparsed"] == 1 and block["n_parsed"] == 4
    _close(block["coverage"], 4 / 5)
    _close(block["auc_parsed"], 3.5 / 4)
    _close(block["brier_parsed"], (0.01 + 0.81) / 4)
    _close(block["positive_rate"], 3 / 5)
    # ECE: bins [0, .1): p 0 y 0; [.5, .6): p .5 y 1; [.9, 1]: p .9, .9, 1 with y 1, 0, 1
    _close(block["ece"], (0 + abs(0.5 - 1) + 3 * abs(2.8 / 3 - 2 / 3)) / 5)


def test_like_mean_of_samples_skips_unparsed_samples(tmp_path):
    data = write_prepared(tmp_path / "l.parquet", [like_row(0, "u", "i", 1, source=L), like_row(1, "v", "j", 0)])
    responses = {(0, 0): liked("0.2"), (0, 1): liked("0.6"), (1, 0): "none", (1, 1): "<like>1.5</like>"}
    records = [{"index": i, "sample": s, "response": r} for (i, s), r in responses.items()]
    _, predictions = evaluate(data, write_generations(tmp_path / "g.jsonl", records, data))
    mos = predictions["like"]["mean_of_samples"].set_index("index")
    _close(mos.loc[0, "prob"], 0.4)
    assert bool(mos.loc[0, "parsed"])
    _close(mos.loc[1, "prob"], 0.5)  # p = 1.5 is no probability: nothing parsed, 0.5
    assert not bool(mos.loc[1, "parsed"])


# ---------------------------------------------------------------------------------------------------------------------
# Files that mix the tasks


def _mixed(tmp_path):
    rows = [
        prepared_row(20, "v0", "i0", 4.0, source="reczero/x"),
        prepared_row(21, "v1", "i1", 2.0, source="reczero/x"),
        *[
            ranking_row(i, f"u{i}", t, CANDIDATES, source=R, user_history=HISTORY[: i % 3])
            for i, (t, _) in RANKING.items()
        ],
        *[like_row(100 + i, f"w{i}", f"i{i}", label, source=L) for i, (label, _) in LIKE.items()],
    ]
    data = write_prepared(tmp_path / "mixed.parquet", rows)
    records = [{"index": 20, "sample": 0, "response": tbr("5")}, {"index": 21, "sample": 0, "response": "?"}]
    records += _ranking_records()
    records += [{**r, "index": 100 + r["index"]} for r in _like_records()]
    return data, write_generations(tmp_path / "g.jsonl", records, data)


def test_a_mixed_file_has_a_section_per_task_equal_to_the_single_task_files(tmp_path):
    data, gens = _mixed(tmp_path)
    metrics, _ = evaluate(data, gens)
    assert metrics["tasks"] == ["rating", "ranking", "like"]
    assert metrics["n_prompts"] == 13
    assert {t: metrics["by_task"][t]["n_prompts"] for t in metrics["tasks"]} == {"rating": 2, "ranking": 6, "like": 5}
    rdata = _ranking_data(tmp_path, "r_only.parquet")
    alone, _ = evaluate(rdata, write_generations(tmp_path / "r.jsonl", _ranking_records(), rdata))
    assert metrics["by_task"]["ranking"]["overall"] == alone["by_task"]["ranking"]["overall"]
    ldata = _like_data(tmp_path, "l_only.parquet")
    alone, _ = evaluate(ldata, write_generations(tmp_path / "l.jsonl", _like_records(), ldata))
    assert metrics["by_task"]["like"]["overall"] == alone["by_task"]["like"]["overall"]
    rating = metrics["by_task"]["rating"]["overall"]["first_sample"]
    _close(rating["mae"], (1 + 4) / 2)  # the unparsed answer at the maximum error


def test_cli_report_of_a_mixed_file(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    data, gens = _mixed(tmp_path)
    out = tmp_path / "eval"
    assert cli_main(["evaluate", "--data", str(data), "--generations", str(gens), "--output-dir", str(out)]) == 0
    report = (out / "report.md").read_text()
    for heading in ("## Rating", "## Ranking", "## Like", "### reczero/x/ranking (M = 12 candidates)"):
        assert heading in report
    assert report.index("## Rating") < report.index("## Ranking") < report.index("## Like")
    assert "| first_sample | 5 | 0.7500 |" in report  # the like table: n, AUC
    for png in ("reczero_x_ranking_positions", "reczero_x_ranking_ndcg_by_history", "reczero_x_like_reliability"):
        assert (out / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"plots/{png}.png" in report
    table = pd.read_parquet(out / "predictions.parquet").set_index("index")
    assert table.loc[3, "task"] == "ranking" and table.loc[3, "first_sample_position"] == 12
    assert not table.loc[3, "first_sample_parsed"]
    _close(table.loc[102, "first_sample_prob"], 0.5)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["headline"]["like"]["auc"] == pytest.approx(0.75)
    assert "6 ranking prompt(s) x 1 sample(s): NDCG@10 0.3056" in caplog.text


def test_rating_logits_on_other_tasks_are_refused(tmp_path):
    data = _like_data(tmp_path)
    records = [{**r, "rating_logits_expected": 3.0} for r in _like_records()]
    out = tmp_path / "eval"
    gens = write_generations(tmp_path / "g.jsonl", records, data)
    assert cli_main(["evaluate", "--data", str(data), "--generations", str(gens), "--output-dir", str(out)]) == 2
    with pytest.raises(
        EvaluationInputError, match=r"g\.jsonl: like rows .*for rating rows only; extra_info.index 0, 1, 2"
    ):
        evaluate(data, gens)
