# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl generate`` on ranking and like rows (issue 12) with a tiny random Qwen2 on CPU: the same command for
every task, scored by ``evaluate`` with each row's task; ``--rating-logits`` refused for the other tasks' rows."""

from __future__ import annotations

import json
import logging

import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.evaluation.evaluate import evaluate
from reczero_verl.reward import compute_score
from tests.builders import like_row, prepared_row, ranking_row, write_prepared

HISTORY = [
    {"item_id": f"h{k}", "rating": 4.0, "timestamp": k, "review": "great fit but too small " * 10} for k in range(8)
]


@pytest.fixture()
def mixed(tmp_path):
    rows = [
        prepared_row(0, "u0", "i0", 4.0),
        ranking_row(1, "u1", "c2", ["c1", "c2", "c3"], source="reczero/x/ranking", user_history=HISTORY),
        like_row(2, "u2", "i2", 1, source="reczero/x/like", user_history=HISTORY),
    ]
    return write_prepared(tmp_path / "mixed.parquet", rows)


def _run(model, data, out, *extra):
    args = ["generate", "--model", str(model), "--data", str(data), "--output", str(out), "--max-tokens", "4"]
    return cli_main([*args, *extra])


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_every_task_then_evaluate(tiny_model_dir, mixed, tmp_path):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, mixed, out, "--max-prompt-tokens", "700") == 0
    records = _records(out)
    assert [(r["index"], r["user_id"], r["item_id"]) for r in records] == [
        (0, "u0", "i0"),
        (1, "u1", "c2"),
        (2, "u2", "i2"),
    ]
    assert all(r["prompt_tokens"] <= 700 for r in records)
    full = tmp_path / "full.jsonl"
    assert _run(tiny_model_dir, mixed, full, "--max-tokens", "1") == 0
    assert all(r["prompt_tokens"] > 700 for r in _records(full)[1:])  # the budget did cut the ranking/like prompts
    metrics, predictions = evaluate(mixed, out)
    assert metrics["tasks"] == ["rating", "ranking", "like"]
    ranking = compute_score(
        solution_str=records[1]["response"],
        ground_truth=2.0,
        extra_info={"task": "ranking", "candidates": ["c1", "c2", "c3"]},
    )
    assert predictions["ranking"]["first_sample"]["position"].tolist() == [ranking["rank"]]
    like = compute_score(solution_str=records[2]["response"], ground_truth=1.0, extra_info={"task": "like"})
    assert predictions["like"]["first_sample"]["prob"].tolist() == [like["prob"]]


def test_rating_logits_are_refused_for_other_tasks(tiny_model_dir, mixed, tmp_path, caplog):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, mixed, out, "--rating-logits") == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(
        "for rating rows only; 2 selected row(s) are like, ranking rows (first extra_info.index: 1, 2)" in e
        for e in errors
    )
    assert not out.exists()
    # a selection of rating rows only is fine
    assert _run(tiny_model_dir, mixed, out, "--rating-logits", "--limit", "1") == 0
    assert "rating_logits_expected" in _records(out)[0]
