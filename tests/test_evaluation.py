# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl evaluate``: hand-computed metrics, strict joins, report and plots."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.evaluation import metrics as M
from reczero_verl.evaluation.data import EvaluationInputError
from reczero_verl.evaluation.evaluate import evaluate
from tests.builders import prepared_row, tbr, write_generations, write_prepared

A, B = "reczero/a", "reczero/b"
TOL = 1e-9


def _data(tmp_path):
    rows = [
        prepared_row(0, "u0", "i0", 4.0, source=A),
        prepared_row(1, "u1", "i1", 2.0, source=A),
        prepared_row(2, "u2", "i2", 5.0, source=A),
        prepared_row(3, "u3", "i3", 4.0, source=A),
        prepared_row(4, "u4", "i4", 9.0, source=B, scale=(1.0, 10.0)),
        prepared_row(5, "u5", "i5", 2.0, source=B, scale=(1.0, 10.0)),
    ]
    return write_prepared(tmp_path / "test.parquet", rows)


# (index, sample) -> response. Errors on the 1-5 scale (max error 4) and the 1-10 scale (max error 9), by hand:
RESPONSES = {
    (0, 0): tbr("4.5"),  # y=4: error 0.5, format ok
    (0, 1): "I think four",  # unparsed: error 4
    (1, 0): tbr("3"),  # y=2: error 1
    (1, 1): tbr("1"),  # error 1; mean of samples (3+1)/2 = 2 -> error 0
    (2, 0): "no rating here",  # y=5: unparsed, error 4
    (2, 1): "<rate>five</rate>",  # unparsed, error 4; mean of samples: none parsed -> error 4
    (3, 0): "<rate>7</rate>",  # y=4: parsed, clipped to 5 -> error 1, format not ok (sections missing, out of scale)
    (3, 1): tbr("2"),  # error 2; mean of samples (5+2)/2 = 3.5 -> error 0.5
    (4, 0): tbr("many"),  # y=9 on 1-10: unparsed, error 9
    (4, 1): tbr("8"),  # error 1; mean of samples 8 -> error 1
    (5, 0): tbr("2.5"),  # y=2: error 0.5
    (5, 1): tbr("10"),  # error 8; mean of samples (2.5+10)/2 = 6.25 -> error 4.25
}


def _records(responses=RESPONSES):
    return [{"index": i, "sample": s, "response": r} for (i, s), r in sorted(responses.items())]


@pytest.fixture()
def result(tmp_path):
    data = _data(tmp_path)
    gens = write_generations(tmp_path / "gen.jsonl", _records(), data)
    return evaluate(data, gens)


def _close(a, b):
    assert a == pytest.approx(b, abs=TOL, rel=0)


def test_first_sample_by_hand(result):
    metrics, _ = result
    a = metrics["by_data_source"][A]["first_sample"]
    assert a["n"] == 4 and a["n_parsed"] == 3
    _close(a["mae"], (0.5 + 1 + 4 + 1) / 4)
    _close(a["rmse"], math.sqrt((0.25 + 1 + 16 + 1) / 4))
    _close(a["coverage"], 0.75)
    _close(a["mae_parsed"], 2.5 / 3)
    _close(a["rmse_parsed"], math.sqrt(2.25 / 3))
    _close(a["format_ok_rate"], 0.5)
    _close(a["per_rating"]["4"]["mae"], 0.75)
    _close(a["per_rating"]["4"]["rmse"], math.sqrt(1.25 / 2))
    _close(a["per_rating"]["2"]["mae"], 1.0)
    _close(a["per_rating"]["5"]["mae"], 4.0)  # unparsed counted at the max error, not at the ground truth
    _close(a["per_rating"]["5"]["coverage"], 0.0)
    b = metrics["by_data_source"][B]["first_sample"]
    _close(b["mae"], (9 + 0.5) / 2)  # the 1-10 scale: unparsed costs 9
    _close(b["rmse"], math.sqrt((81 + 0.25) / 2))
    _close(b["per_rating"]["9"]["mae"], 9.0)
    overall = metrics["overall"]["first_sample"]
    _close(overall["mae"], (0.5 + 1 + 4 + 1 + 9 + 0.5) / 6)
    _close(overall["mae_normalized"], (0.5 / 4 + 1 / 4 + 1 + 1 / 4 + 1 + 0.5 / 9) / 6)
    assert metrics["headline"] == {"prediction": "first_sample", "mae": overall["mae"], "rmse": overall["rmse"]}
    assert metrics["samples_per_prompt"] == 2 and metrics["n_prompts"] == 6


def test_mean_of_samples_and_per_sample_by_hand(result):
    metrics, predictions = result
    a = metrics["by_data_source"][A]["mean_of_samples"]
    _close(a["mae"], (0.5 + 0 + 4 + 0.5) / 4)
    _close(a["rmse"], math.sqrt((0.25 + 0 + 16 + 0.25) / 4))
    _close(a["coverage"], 0.75)
    assert a["format_ok_rate"] is None
    b = metrics["by_data_source"][B]["mean_of_samples"]
    _close(b["mae"], (1 + 4.25) / 2)
    mos = predictions["rating"]["mean_of_samples"].set_index("index")
    _close(mos.loc[3, "pred"], 3.5)
    _close(mos.loc[5, "pred"], 6.25)
    assert not mos.loc[2, "parsed"] and math.isnan(mos.loc[2, "pred"])
    ps = metrics["by_data_source"][A]["per_sample"]
    assert ps["n"] == 8
    _close(ps["mae"], (0.5 + 4 + 1 + 1 + 4 + 4 + 1 + 2) / 8)
    _close(ps["rmse"], math.sqrt((0.25 + 16 + 1 + 1 + 16 + 16 + 1 + 4) / 8))
    _close(ps["coverage"], 5 / 8)
    _close(ps["format_ok_rate"], 4 / 8)


def test_prefix_is_prepended_before_scoring(tmp_path):
    data = write_prepared(tmp_path / "t.parquet", [prepared_row(0, "u", "i", 3.0)])
    response = tbr("3")[len("<analyze user>") :]
    with_prefix = write_generations(
        tmp_path / "g1.jsonl", [{"index": 0, "sample": 0, "response": response, "prefix": "<analyze user>"}], data
    )
    without = write_generations(tmp_path / "g2.jsonl", [{"index": 0, "sample": 0, "response": response}], data)
    assert evaluate(data, with_prefix)[0]["overall"]["first_sample"]["format_ok_rate"] == 1.0
    assert evaluate(data, without)[0]["overall"]["first_sample"]["format_ok_rate"] == 0.0


def test_plain_variant_checks_the_plain_format(tmp_path):
    data = write_prepared(tmp_path / "t.parquet", [prepared_row(0, "u", "i", 3.0)])
    gens = write_generations(tmp_path / "g.jsonl", [{"index": 0, "sample": 0, "response": "<rate>2</rate>"}], data)
    tbr_metrics = evaluate(data, gens)[0]["overall"]["first_sample"]
    plain_metrics = evaluate(data, gens, variant="plain")[0]["overall"]["first_sample"]
    assert (tbr_metrics["format_ok_rate"], plain_metrics["format_ok_rate"]) == (0.0, 1.0)
    assert tbr_metrics["mae"] == plain_metrics["mae"] == 1.0


def test_rating_logits_prediction(tmp_path):
    data = write_prepared(tmp_path / "t.parquet", [prepared_row(0, "u", "i", 3.0), prepared_row(1, "v", "j", 5.0)])
    records = [
        {"index": 0, "sample": 0, "response": "x", "rating_logits_expected": 3.25},
        {"index": 1, "sample": 0, "response": tbr("5"), "rating_logits_expected": 4.0},
    ]
    metrics, _ = evaluate(data, write_generations(tmp_path / "g.jsonl", records, data))
    block = metrics["overall"]["rating_logits"]
    _close(block["mae"], (0.25 + 1.0) / 2)
    _close(block["coverage"], 1.0)
    _close(metrics["overall"]["first_sample"]["mae"], (4 + 0) / 2)  # the text answer of row 0 did not parse
    records[1].pop("rating_logits_expected")
    with pytest.raises(EvaluationInputError, match="rating_logits_expected"):
        evaluate(data, write_generations(tmp_path / "g2.jsonl", records, data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r + [{"index": 99, "sample": k, "response": "x", "user_id": "u", "item_id": "i"} for k in (0, 1)],
            r"index value\(s\) not in the data: 99",
        ),
        (lambda r: [x for x in r if x["index"] not in (2, 4)], r"without any generation.*: 2, 4"),
        (lambda r: r + [{"index": 1, "sample": 1, "response": "dup"}], r"duplicated .*\(1, 1\)"),
        (lambda r: [x for x in r if (x["index"], x["sample"]) != (3, 1)], r"exactly samples 0\.\.1: 3: samples \[0\]"),
    ],
)
def test_missing_extra_duplicate_rows_are_errors(tmp_path, change, message):
    data = _data(tmp_path)
    gens = write_generations(tmp_path / "gen.jsonl", change(_records()), data)
    with pytest.raises(EvaluationInputError, match=message):
        evaluate(data, gens)


def test_malformed_lines_are_named(tmp_path):
    data = _data(tmp_path)
    gens = write_generations(tmp_path / "gen.jsonl", _records(), data)
    with gens.open("a") as handle:
        handle.write('{"index": 0, "sample": 5}\n{"index": 0, "sample": 6, "resp\n')
    with pytest.raises(EvaluationInputError, match=r"2 malformed line\(s\): line 13 .*response.*line 14"):
        evaluate(data, gens)


def test_duplicated_data_index_is_an_error(tmp_path):
    data = write_prepared(tmp_path / "t.parquet", [prepared_row(0, "u", "i", 3.0), prepared_row(0, "v", "j", 5.0)])
    gens = write_generations(tmp_path / "g.jsonl", [{"index": 0, "sample": 0, "response": "x"}])
    with pytest.raises(EvaluationInputError, match="duplicated extra_info.index values: 0"):
        evaluate(data, gens)


def test_cli_writes_metrics_report_and_plots(tmp_path, caplog):
    data = _data(tmp_path)
    gens = write_generations(tmp_path / "gen.jsonl", _records(), data)
    out = tmp_path / "eval"
    assert cli_main(["evaluate", "--data", str(data), "--generations", str(gens), "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    _close(metrics["headline"]["mae"], 16 / 6)
    report = (out / "report.md").read_text()
    assert "## reczero/a (scale 1-5)" in report and "## reczero/b (scale 1-10)" in report
    for stem in ("reczero_a", "reczero_b"):
        for kind in ("confusion", "errors", "per_rating_mae"):
            png = out / "plots" / f"{stem}_{kind}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"plots/{stem}_{kind}.png" in report
    table = pd.read_parquet(out / "predictions.parquet")
    assert table["index"].tolist() == list(range(6))
    _close(table.set_index("index").loc[3, "mean_of_samples_pred"], 3.5)
    # bad input: exit code 2 and the error logged, no traceback
    bad = write_generations(tmp_path / "bad.jsonl", _records()[:-1], data)
    assert cli_main(["evaluate", "--data", str(data), "--generations", str(bad), "--output-dir", str(out)]) == 2
    assert "exactly samples 0..1: 5" in caplog.text


def test_metric_block_rejects_parsed_nan():
    frame = pd.DataFrame(
        {
            "index": [0],
            "data_source": [A],
            "y": [3.0],
            "rating_min": [1.0],
            "rating_max": [5.0],
            "pred": [float("nan")],
            "parsed": [True],
            "format_ok": [1.0],
        }
    )
    with pytest.raises(ValueError, match="non-finite"):
        M.metric_block(frame)


def test_continuous_true_ratings_are_grouped_by_nearest_integer():
    y = [1.0 + 0.1 * k for k in range(M.MAX_RATING_GROUPS + 1)]  # 21 distinct ratings from 1.0 to 3.0
    frame = pd.DataFrame(
        {
            "index": range(len(y)),
            "data_source": A,
            "y": y,
            "rating_min": 1.0,
            "rating_max": 5.0,
            "pred": 3.0,
            "parsed": True,
            "format_ok": 1.0,
        }
    )
    per_rating = M.metric_block(frame)["per_rating"]
    # 1.0-1.4 -> "1" (5 rows), 1.5-2.4 -> "2" (10 rows), 2.5-3.0 -> "3" (6 rows); MAE from |3 - y| by hand.
    assert {k: v["n"] for k, v in per_rating.items()} == {"1": 5, "2": 10, "3": 6}
    _close(per_rating["1"]["mae"], (2.0 + 1.9 + 1.8 + 1.7 + 1.6) / 5)
    _close(per_rating["3"]["mae"], (0.5 + 0.4 + 0.3 + 0.2 + 0.1 + 0.0) / 6)


def test_limit_evaluates_the_first_rows_only(tmp_path):
    data = _data(tmp_path)
    gens = write_generations(tmp_path / "gen.jsonl", [r for r in _records() if r["index"] < 2], data)
    metrics, _ = evaluate(data, gens, limit=2)
    _close(metrics["headline"]["mae"], (0.5 + 1.0) / 2)  # rows 0 and 1, sample 0 (see RESPONSES)
    with pytest.raises(EvaluationInputError, match="without any generation"):
        evaluate(data, gens)
