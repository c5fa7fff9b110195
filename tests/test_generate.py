# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl generate`` with a tiny random Qwen2 on CPU: records, resume, seeds, prefill, rating logits."""

from __future__ import annotations

import json
import logging
import math
import shutil

import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.evaluation.evaluate import evaluate
from reczero_verl.evaluation.generate import (
    GenerateConfig,
    GenerateResult,
    generate,
    rating_values,
    response_context,
    value_probabilities,
)
from reczero_verl.reward import compute_score
from tests.builders import prepared_row, write_prepared


@pytest.fixture()
def data(tmp_path):
    rows = [
        prepared_row(0, "u0", "i0", 4.0),
        prepared_row(1, "u1", "i1", 2.0),
        prepared_row(2, "u2", "i2", 9.0, scale=(1.0, 10.0), source="reczero/imdb"),
    ]
    return write_prepared(tmp_path / "test.parquet", rows)


def _run(model, data, out, *extra):
    args = ["generate", "--model", str(model), "--data", str(data), "--output", str(out), "--max-tokens", "6"]
    return cli_main([*args, *extra])


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_then_evaluate(tiny_model_dir, data, tmp_path):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, data, out, "--batch-size", "2") == 0
    records = _records(out)
    assert [(r["index"], r["sample"]) for r in records] == [(0, 0), (1, 0), (2, 0)]
    assert [(r["user_id"], r["item_id"]) for r in records] == [("u0", "i0"), ("u1", "i1"), ("u2", "i2")]
    for r in records:
        assert isinstance(r["response"], str) and r["prefix"] == ""
        assert r["finish_reason"] in ("stop", "length") and 1 <= r["n_tokens"] <= 6
    metrics, _ = evaluate(data, out)
    truth = {0: (4.0, 5.0), 1: (2.0, 5.0), 2: (9.0, 10.0)}
    expected = [
        compute_score(
            solution_str=r["response"],
            ground_truth=truth[r["index"]][0],
            extra_info={"rating_min": 1.0, "rating_max": truth[r["index"]][1]},
        )["abs_error"]
        for r in records
    ]
    assert metrics["headline"]["mae"] == pytest.approx(sum(expected) / 3, abs=1e-9)
    assert metrics["n_prompts"] == 3 and metrics["samples_per_prompt"] == 1


def test_python_api_generates_without_argv(tiny_model_dir, data, tmp_path):
    config = GenerateConfig(model=tiny_model_dir, data=data, output=tmp_path / "gen.jsonl", max_tokens=4, limit=2)
    assert generate(config) == GenerateResult(output=tmp_path / "gen.jsonl", already_done=0, written=2)
    assert [(r["index"], r["sample"]) for r in _records(config.output)] == [(0, 0), (1, 0)]
    assert generate(config) == GenerateResult(output=config.output, already_done=2, written=0)  # resumed: done


def test_resume_skips_done_pairs_and_repairs_a_partial_line(tiny_model_dir, data, tmp_path):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, data, out, "--limit", "2") == 0
    first = _records(out)
    assert [(r["index"], r["sample"]) for r in first] == [(0, 0), (1, 0)]
    with out.open("a") as handle:
        handle.write('{"index": 2, "sample": 0, "resp')  # a write cut by a kill
    assert _run(tiny_model_dir, data, out) == 0
    records = _records(out)
    assert records[:2] == first  # untouched, not regenerated
    assert [(r["index"], r["sample"]) for r in records] == [(0, 0), (1, 0), (2, 0)]
    before = out.read_text()
    assert _run(tiny_model_dir, data, out) == 0
    assert out.read_text() == before  # nothing left to do
    assert _run(tiny_model_dir, data, out, "--temperature", "0.7") == 2  # settings of a resumed run must match


def test_seeded_sampling_is_reproducible(tiny_model_dir, data, tmp_path):
    runs = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        out = tmp_path / f"{name}.jsonl"
        assert _run(tiny_model_dir, data, out, "--temperature", "1.0", "--n", "2", "--seed", seed) == 0
        runs[name] = [r["response"] for r in _records(out)]
    assert len(runs["a"]) == 6
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


def test_prefill_records_the_prefix(tiny_model_dir, data, tmp_path):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, data, out, "--prefill", "--limit", "1") == 0
    assert _records(out)[0]["prefix"] == "<analyze user>"


def test_rating_logits_match_a_direct_forward_pass(tiny_model_dir, data, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, data, out, "--rating-logits") == 0
    records = _records(out)
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    for record, (lo, hi) in zip(records, [(1, 5), (1, 5), (1, 10)], strict=True):
        probs = {int(k): v for k, v in record["rating_logits_probs"].items()}
        assert sorted(probs) == rating_values(lo, hi)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
        assert record["rating_logits_expected"] == pytest.approx(sum(v * p for v, p in probs.items()), abs=1e-9)
        assert 0.0 < record["rating_logits_mass"] <= 1.0
        assert record["rating_logits_forced"] is ("<rate>" not in record["response"])
    # Rows 0 and 1 (1-5 scale): recompute by hand from one forward pass when every value is one token.
    values = rating_values(1, 5)
    ids = [tokenizer(str(v), add_special_tokens=False)["input_ids"] for v in values]
    assert all(len(t) == 1 for t in ids)  # true of the tiny tokenizer: digits are single tokens
    text = tokenizer.apply_chat_template(_prompt(data, 0), tokenize=False, add_generation_prompt=True)
    context, _ = response_context(records[0]["response"])
    input_ids = torch.tensor([tokenizer(text + context, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        p = torch.softmax(model(input_ids=input_ids).logits[0, -1].double(), dim=-1)
    chosen = torch.stack([p[t[0]] for t in ids])
    expected = (chosen / chosen.sum()).tolist()
    got = [records[0]["rating_logits_probs"][str(v)] for v in values]
    assert got == pytest.approx(expected, abs=1e-5)
    assert records[0]["rating_logits_mass"] == pytest.approx(float(chosen.sum()), rel=1e-4)
    # Row 2 (1-10 scale): "10" is two tokens ("1", "0") for the tiny tokenizer, so P(10) = P(1) * P(0 | 1) and the
    # value 1 keeps only P(1) - P(10); recompute both with a forward pass over the context plus the token of "1".
    ten = tokenizer("10", add_special_tokens=False)["input_ids"]
    singles = [tokenizer(str(v), add_special_tokens=False)["input_ids"] for v in range(1, 10)]
    assert len(ten) == 2 and ten[0] == singles[0][0] and all(len(t) == 1 for t in singles)
    text = tokenizer.apply_chat_template(_prompt(data, 2), tokenize=False, add_generation_prompt=True)
    context, _ = response_context(records[2]["response"])
    base = tokenizer(text + context, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([base + ten[:1]])).logits[0, -2:].double()
    first, second = torch.softmax(logits[0], -1), torch.softmax(logits[1], -1)
    joint = {v: float(first[singles[v - 1][0]]) for v in range(1, 10)}
    joint[10] = float(first[ten[0]] * second[ten[1]])
    joint[1] -= joint[10]
    total = sum(joint.values())
    got = {int(k): v for k, v in records[2]["rating_logits_probs"].items()}
    assert got == pytest.approx({v: p / total for v, p in joint.items()}, abs=1e-5)
    metrics, _ = evaluate(data, out)
    assert metrics["overall"]["rating_logits"]["coverage"] == 1.0


def _prompt(path, index):
    import pandas as pd

    frame = pd.read_parquet(path)
    row = frame[frame["extra_info"].map(lambda e: e["index"]) == index].iloc[0]
    return [{"role": m["role"], "content": m["content"]} for m in row["prompt"]]


def test_value_probabilities_by_hand():
    # Tokens: "1" -> (1,), "2" -> (2,), "10" -> (1, 0). P(1)=0.5, P(2)=0.3 at the first step; P(0 | 1) = 0.4.
    table = {((), 1): 0.5, ((), 2): 0.3, ((1,), 0): 0.4}
    probs, mass = value_probabilities(
        lambda prefix, tok: math.log(table[(prefix, tok)]), {1: (1,), 2: (2,), 10: (1, 0)}
    )
    # P(10) = 0.5 * 0.4 = 0.2; P(exactly 1) = 0.5 - 0.2 = 0.3; P(2) = 0.3; total 0.8.
    assert mass == pytest.approx(0.8, abs=1e-12)
    assert probs == pytest.approx({1: 0.3 / 0.8, 2: 0.3 / 0.8, 10: 0.2 / 0.8}, abs=1e-12)


@pytest.mark.parametrize(
    ("response", "prefix", "context", "forced"),
    [
        ("a<rate>3</rate> b <rate>4</rate>", "", "a<rate>3</rate> b <rate>", False),
        ("no tag", "", "no tag<rate>", True),
        (" user</analyze user><rate>2", "<analyze user>", " user</analyze user><rate>", False),
    ],
)
def test_response_context(response, prefix, context, forced):
    assert response_context(response, prefix) == (context, forced)


def test_max_prompt_tokens_fits_prompts_like_the_training_dataset(tiny_model_dir, tmp_path):
    history = [
        {"item_id": f"i{k}", "rating": 4.0, "timestamp": k, "review": "great fit but too small " * 10}
        for k in range(10)
    ]
    others = [{"user_id": f"v{k}", "rating": 3.0, "timestamp": k, "review": "faded " * 30} for k in range(10)]
    data = write_prepared(
        tmp_path / "long.parquet",
        [prepared_row(i, f"u{i}", f"x{i}", 4.0, user_history=history, item_history=others) for i in range(2)],
    )
    full, fitted = tmp_path / "full.jsonl", tmp_path / "fitted.jsonl"
    assert _run(tiny_model_dir, data, full, "--max-tokens", "2") == 0
    assert _run(tiny_model_dir, data, fitted, "--max-tokens", "2", "--max-prompt-tokens", "600") == 0
    assert all(r["prompt_tokens"] > 600 for r in _records(full))
    assert all(r["prompt_tokens"] <= 600 for r in _records(fitted))


# ------------------------------------------------------------------------------------------------------ bad input


def _error_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_resume_compares_the_data_content_not_its_path(tiny_model_dir, data, tmp_path, caplog):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, data, out, "--limit", "2") == 0
    moved = tmp_path / "elsewhere" / "renamed.parquet"
    moved.parent.mkdir()
    shutil.copy(data, moved)
    assert _run(tiny_model_dir, moved, out) == 0  # same content under another path: resumed
    assert [(r["index"], r["user_id"]) for r in _records(out)] == [(0, "u0"), (1, "u1"), (2, "u2")]
    before = out.read_text()
    for k, rows in enumerate(
        [
            [prepared_row(0, "u0", "i0", 4.0), prepared_row(1, "u1", "i1", 3.0)],  # another truth, same ids
            [prepared_row(0, "u0", "i0", 4.0), prepared_row(1, "x1", "i1", 2.0)],  # another user
            [prepared_row(0, "u0", "i0", 4.0)],  # fewer rows
        ]
    ):
        write_prepared(data, rows)  # other content under the very same path
        caplog.clear()
        assert _run(tiny_model_dir, data, out) == 2, k
        (message,) = _error_lines(caplog)
        assert "was started on other data" in message and str(data) in message
    assert out.read_text() == before  # nothing appended


def test_resume_refuses_lines_written_for_other_rows(tiny_model_dir, data, tmp_path, caplog):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, data, out, "--limit", "2") == 0
    for field, value in (("user_id", "someone"), ("item_id", "other-item"), ("index", 7)):
        records = _records(out)
        records[1][field] = value
        edited = tmp_path / f"edited_{field}.jsonl"
        edited.write_text("".join(json.dumps(r) + "\n" for r in records))
        shutil.copy(out.with_name(out.name + ".settings.json"), edited.with_name(edited.name + ".settings.json"))
        caplog.clear()
        assert _run(tiny_model_dir, data, edited) == 2
        (message,) = _error_lines(caplog)
        assert "holds generations for other rows" in message and str(edited) in message


def test_output_of_an_older_generate_is_not_resumed_but_evaluates_with_index_only(
    tiny_model_dir, data, tmp_path, caplog
):
    out = tmp_path / "gen.jsonl"
    assert _run(tiny_model_dir, data, out) == 0
    old = [{k: v for k, v in r.items() if k not in ("user_id", "item_id")} for r in _records(out)]
    out.write_text("".join(json.dumps(r) + "\n" for r in old))
    settings = out.with_name(out.name + ".settings.json")
    settings.write_text(
        json.dumps({k: v for k, v in json.loads(settings.read_text()).items() if k != "data_fingerprint"})
    )
    assert _run(tiny_model_dir, data, out) == 2
    (message,) = _error_lines(caplog)
    assert "older `reczero-verl generate`" in message and "new --output" in message and "--index-only" in message
    evaluate_args = ["evaluate", "--data", str(data), "--generations", str(out), "--output-dir", str(tmp_path / "e")]
    assert cli_main(evaluate_args) == 2
    assert cli_main([*evaluate_args, "--index-only"]) == 0


def test_missing_or_unusable_model_is_one_clear_line(tiny_model_dir, data, tmp_path, caplog):
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"x")
    empty = tmp_path / "empty_model"
    empty.mkdir()
    broken = tmp_path / "broken_model"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "config.json").write_text("{not json")
    cases = {
        "/nonexistent/model": "no such folder",
        str(tmp_path / "missing"): "no such folder",
        "./missing-model": "no such folder",
        "~/no-such-model-dir": "no such folder",
        str(a_file): "is a file",
        str(empty): "has no config.json",
        str(broken): "cannot be loaded",
    }
    for model, needle in cases.items():
        caplog.clear()
        out = tmp_path / "gen.jsonl"
        assert _run(model, data, out) == 2, model
        (message,) = _error_lines(caplog)
        assert f"--model {model}" in message and needle in message and "save_pretrained" in message
        assert not out.exists()


def test_data_that_is_not_parquet_and_bad_outputs_are_refused(tiny_model_dir, data, tmp_path, caplog):
    text = tmp_path / "test.csv"
    text.write_text("user,item,rating\nu,i,4\n")
    folder = tmp_path / "folder.parquet"
    folder.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (text, tmp_path / "g1.jsonl", (), "is not a parquet file"),
        (folder, tmp_path / "g2.jsonl", (), "is a folder"),
        (tmp_path / "missing.parquet", tmp_path / "g3.jsonl", (), "no such file"),
        (data, tmp_path, (), "is a folder"),
        (data, a_file / "gen.jsonl", (), "a parent of it is a file"),
        (data, tmp_path / "g4.jsonl", ("--limit", "0"), "--limit must be at least 1"),
    ]
    for data_path, out, extra, needle in cases:
        caplog.clear()
        assert _run(tiny_model_dir, data_path, out, *extra) == 2, needle
        (message,) = _error_lines(caplog)
        assert needle in message, message
