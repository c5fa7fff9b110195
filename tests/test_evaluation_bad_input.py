# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``evaluate`` and ``baselines`` on bad input: foreign generations and baselines, out-of-scale truths, files that are
not parquet, malformed numbers, empty test sets, and report folders that must never mix two reports.

Each refusal is checked through the command line: exit code 2 and one logged line naming the file and the fix.
"""

from __future__ import annotations

import gzip
import json
import logging

import pytest

from reczero_verl.cli import main as cli_main
from reczero_verl.errors import BadInputError
from reczero_verl.evaluation import report as R
from reczero_verl.evaluation.data import EvaluationInputError, load_targets, targets_fingerprint
from reczero_verl.evaluation.evaluate import evaluate
from tests.builders import prepared_row, tbr, write_generations, write_prepared

A, B = "reczero/a", "reczero/b"


def _rows(users=("u0", "u1", "u2", "u3"), items=("i0", "i1", "i2", "i3"), ratings=(4.0, 2.0, 5.0, 3.0), source=A):
    return [
        prepared_row(k, u, i, r, source=source) for k, (u, i, r) in enumerate(zip(users, items, ratings, strict=True))
    ]


def _records(n=4, k=1):
    return [{"index": i, "sample": s, "response": tbr(str(1 + (i + s) % 5))} for i in range(n) for s in range(k)]


def _evaluate(data, gens, out, *extra):
    return cli_main(["evaluate", "--data", str(data), "--generations", str(gens), "--output-dir", str(out), *extra])


def _errors(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def _refused(caplog, *needles):
    """Exactly one error line was logged, without a traceback, and it holds every needle."""
    errors = _errors(caplog)
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert errors[0].exc_info is None and "Traceback" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


# --------------------------------------------------------------------------------------------- foreign generations


@pytest.mark.parametrize(
    ("other", "first"),
    [
        ({"users": ("u0", "u1", "u2", "x3")}, "extra_info.index 3"),  # one row of another user
        ({"users": ("v0", "v1", "v2", "v3"), "items": ("j0", "j1", "j2", "j3")}, "extra_info.index 0"),  # all
        ({"items": ("i0", "i1", "j2", "j3")}, "extra_info.index 2"),  # the item only
        ({"users": ("u1", "u0", "u2", "u3")}, "extra_info.index 0"),  # the same rows in another order
    ],
)
def test_generations_made_for_another_file_are_refused(tmp_path, caplog, other, first):
    mine = write_prepared(tmp_path / "mine.parquet", _rows())
    foreign = write_prepared(tmp_path / "foreign.parquet", _rows(**other))
    gens = write_generations(tmp_path / "gen.jsonl", _records(k=2), foreign)
    assert _evaluate(mine, gens, tmp_path / "eval") == 2
    _refused(caplog, str(gens), "another data file", first)
    assert not (tmp_path / "eval").exists()
    caplog.clear()
    assert _evaluate(foreign, gens, tmp_path / "eval") == 0  # the file they were made for
    assert not _errors(caplog)


def test_one_foreign_sample_among_good_ones_is_named(tmp_path):
    data = write_prepared(tmp_path / "t.parquet", _rows())
    records = _records(k=3)
    records[7] = {**records[7], "user_id": "intruder", "item_id": "i2"}  # index 2, sample 1
    gens = write_generations(tmp_path / "g.jsonl", records, data)
    with pytest.raises(EvaluationInputError, match=r"1 sample\(s\).*extra_info.index 2 \(sample 1\).*'intruder'"):
        evaluate(data, gens)


def test_lines_without_ids_need_index_only(tmp_path, caplog):
    data = write_prepared(tmp_path / "t.parquet", _rows())
    legacy = write_generations(tmp_path / "old.jsonl", _records())  # an older generate: no user_id / item_id
    assert _evaluate(data, legacy, tmp_path / "eval") == 2
    _refused(caplog, "4 generation line(s) carry no user_id / item_id", "--index-only", "regenerate")
    assert _evaluate(data, legacy, tmp_path / "eval", "--index-only") == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["index_only_lines"] == 4 and metrics["n_prompts"] == 4
    with_ids = write_generations(tmp_path / "new.jsonl", _records(), data)
    assert _evaluate(data, with_ids, tmp_path / "eval2") == 0
    assert json.loads((tmp_path / "eval2" / "metrics.json").read_text())["index_only_lines"] == 0
    assert metrics["overall"] == json.loads((tmp_path / "eval2" / "metrics.json").read_text())["overall"]


def test_index_only_still_checks_the_ids_that_are_present(tmp_path):
    data = write_prepared(tmp_path / "t.parquet", _rows())
    records = _records()
    records[1] = {**records[1], "user_id": "u9", "item_id": "i1"}
    gens = write_generations(tmp_path / "g.jsonl", records)  # three lines without ids, one with foreign ids
    with pytest.raises(EvaluationInputError, match="extra_info.index 1"):
        evaluate(data, gens, index_only=True)


# ------------------------------------------------------------------------------------------------ foreign baselines


def _baselines(tmp_path, test, name="baselines"):
    train = write_prepared(
        tmp_path / "train.parquet",
        [
            prepared_row(k, f"u{k % 4}", f"i{k % 3}", 1.0 + k % 5, split="train", timestamp=k, source=(A, B)[k % 2])
            for k in range(12)
        ],
    )
    out = tmp_path / name
    assert cli_main(["baselines", "--train", str(train), "--test", str(test), "--output-dir", str(out), "--no-mf"]) == 0
    return out / "metrics.json"


@pytest.mark.parametrize(
    ("rows", "first"),
    [
        (_rows(users=("u0", "u1", "u3", "u3")), "extra_info.index 2: user_id 'u2'"),
        (_rows(ratings=(4.0, 2.0, 5.0, 1.0)), "extra_info.index 3: rating 3.0"),  # same ids, other truths
        (_rows()[:3], "extra_info.index 3 is in"),  # fewer targets
        (_rows(source=B), "extra_info.index 0: data_source"),
    ],
)
def test_baselines_of_another_test_set_are_refused(tmp_path, caplog, rows, first):
    data = write_prepared(tmp_path / "test.parquet", _rows())
    other = write_prepared(tmp_path / "other.parquet", rows)
    metrics = _baselines(tmp_path, other)
    gens = write_generations(tmp_path / "g.jsonl", _records(), data)
    assert _evaluate(data, gens, tmp_path / "eval", "--baselines", str(metrics)) == 2
    _refused(caplog, str(metrics), "another test set", first)
    caplog.clear()
    own = _baselines(tmp_path, data, "own")
    assert _evaluate(data, gens, tmp_path / "eval", "--baselines", str(own)) == 0
    assert "baseline: user_mean" in (tmp_path / "eval" / "report.md").read_text()


def test_baselines_with_evaluate_limit_are_refused(tmp_path, caplog):
    data = write_prepared(tmp_path / "test.parquet", _rows())
    metrics = _baselines(tmp_path, data)
    gens = write_generations(tmp_path / "g.jsonl", _records(n=2), data)
    assert _evaluate(data, gens, tmp_path / "eval", "--limit", "2", "--baselines", str(metrics)) == 2
    _refused(caplog, "another test set", "no --limit")


def test_old_or_foreign_metrics_files_are_refused(tmp_path, caplog):
    data = write_prepared(tmp_path / "test.parquet", _rows())
    gens = write_generations(tmp_path / "g.jsonl", _records(), data)
    metrics = _baselines(tmp_path, data)
    content = json.loads(metrics.read_text())
    assert content["test_fingerprint"] == targets_fingerprint(load_targets(data))
    cases = {
        "old.json": ({k: v for k, v in content.items() if k != "test_fingerprint"}, "rerun `reczero-verl baselines`"),
        "model.json": ({"kind": "generations"}, "not a metrics.json of `reczero-verl baselines`"),
        "list.json": ([1, 2], "not a metrics.json"),
    }
    for name, (body, needle) in cases.items():
        path = tmp_path / name
        path.write_text(json.dumps(body))
        caplog.clear()
        assert _evaluate(data, gens, tmp_path / "eval", "--baselines", str(path)) == 2
        _refused(caplog, str(path), needle)
    (tmp_path / "broken.json").write_text('{"kind": "basel')
    caplog.clear()
    assert _evaluate(data, gens, tmp_path / "eval", "--baselines", str(tmp_path / "broken.json")) == 2
    _refused(caplog, "broken.json", "not a readable metrics.json")


# ---------------------------------------------------------------------------------------------- out-of-scale truths


@pytest.mark.parametrize(
    ("rating", "scale"),
    [(100.0, (1.0, 5.0)), (0.0, (1.0, 5.0)), (11.0, (1.0, 10.0)), (-1.0, (0.0, 9.0)), (1e308, (1, 5))],
)
def test_out_of_scale_truth_is_refused_naming_the_row(tmp_path, caplog, rating, scale):
    rows = [prepared_row(k, f"u{k}", f"i{k}", scale[0], scale=scale) for k in range(3)]
    rows.append(prepared_row(7, "u7", "i7", rating, scale=scale))
    data = write_prepared(tmp_path / "t.parquet", rows)
    gens = write_generations(
        tmp_path / "g.jsonl", [{"index": i, "sample": 0, "response": "x"} for i in (0, 1, 2, 7)], data
    )
    assert _evaluate(data, gens, tmp_path / "eval") == 2
    _refused(caplog, str(data), "row 3 (extra_info.index 7)", "outside the rating scale")
    caplog.clear()
    train = write_prepared(tmp_path / "train.parquet", [prepared_row(0, "u0", "i0", scale[0], scale=scale)])
    assert cli_main(["baselines", "--train", str(train), "--test", str(data), "--output-dir", str(tmp_path / "b")]) == 2
    _refused(caplog, "row 3 (extra_info.index 7)", "outside the rating scale")


@pytest.mark.parametrize("rating", [0.0, 6.0, 50.0])
def test_out_of_scale_history_rating_is_refused_by_baselines(tmp_path, caplog, rating):
    history = [{"item_id": "h1", "rating": 4.0, "timestamp": 1}, {"item_id": "h2", "rating": rating, "timestamp": 2}]
    train = write_prepared(
        tmp_path / "train.parquet",
        [prepared_row(0, "u0", "i0", 3.0, split="train"), prepared_row(1, "u1", "i1", 3.0, user_history=history)],
    )
    test = write_prepared(tmp_path / "test.parquet", _rows())
    args = ["baselines", "--train", str(train), "--test", str(test), "--output-dir", str(tmp_path / "b"), "--no-mf"]
    assert cli_main(args) == 2
    _refused(caplog, str(train), "row 1 (extra_info.index 1)", "user_history entry", "outside the rating scale")


# ------------------------------------------------------------------------------------------- files that are not parquet


def _not_parquet(tmp_path):
    (tmp_path / "folder.parquet").mkdir()
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "text.parquet").write_text("index,rating\n0,4\n")
    (tmp_path / "gen_as_data.jsonl").write_text('{"index": 0}\n')
    with gzip.open(tmp_path / "data.parquet.gz", "wb") as handle:
        handle.write(b"PAR1 not really")
    (tmp_path / "cut.parquet").write_bytes((write_prepared(tmp_path / "whole.parquet", _rows())).read_bytes()[:300])
    return {
        "folder.parquet": "is a folder",
        "empty.parquet": "is not a parquet file",
        "text.parquet": "is not a parquet file",
        "gen_as_data.jsonl": "is not a parquet file",
        "data.parquet.gz": "is not a parquet file",
        "cut.parquet": "is not a parquet file",
        "missing.parquet": "no such file",
    }


def test_evaluate_and_baselines_refuse_files_that_are_not_parquet(tmp_path, caplog):
    good = write_prepared(tmp_path / "good.parquet", _rows())
    gens = write_generations(tmp_path / "g.jsonl", _records(), good)
    for name, needle in _not_parquet(tmp_path).items():
        path = tmp_path / name
        for argv in (
            ["evaluate", "--data", str(path), "--generations", str(gens), "--output-dir", str(tmp_path / "e")],
            ["baselines", "--train", str(path), "--test", str(good), "--output-dir", str(tmp_path / "b")],
            ["baselines", "--train", str(good), "--test", str(path), "--output-dir", str(tmp_path / "b")],
        ):
            caplog.clear()
            assert cli_main(argv) == 2, argv
            _refused(caplog, str(path), needle, "reczero-verl prepare")


def test_parquet_without_the_contract_columns_is_refused(tmp_path, caplog):
    import pandas as pd

    path = tmp_path / "ratings.parquet"
    pd.DataFrame({"user": ["a"], "item": ["b"], "rating": [4.0]}).to_parquet(path)
    gens = write_generations(tmp_path / "g.jsonl", [{"index": 0, "sample": 0, "response": "x"}])
    assert _evaluate(path, gens, tmp_path / "e") == 2
    _refused(caplog, str(path), "missing column(s)", "reward_model")


def test_baselines_refuse_an_empty_test_set(tmp_path, caplog):
    train = write_prepared(tmp_path / "train.parquet", _rows())
    empty = write_prepared(tmp_path / "empty.parquet", [])
    assert (
        cli_main(["baselines", "--train", str(train), "--test", str(empty), "--output-dir", str(tmp_path / "b")]) == 2
    )
    _refused(caplog, str(empty), "test set is empty")
    assert not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------------- generation lines with bad numbers


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"index": "3", "sample": 0, "response": "x"}', "'index' is not an integer"),
        ('{"index": 3.5, "sample": 0, "response": "x"}', "'index' is not an integer"),
        ('{"index": true, "sample": 0, "response": "x"}', "'index' is not an integer"),
        ('{"index": 1e999, "sample": 0, "response": "x"}', "'index' is not an integer"),
        ('{"index": 3, "sample": "zero", "response": "x"}', "'sample' is not an integer"),
        ('{"index": 3, "sample": null, "response": "x"}', "'sample' is not an integer"),
        ('{"index": 3, "sample": 0, "response": "x", "rating_logits_expected": "high"}', "rating_logits_expected"),
        ('{"index": 3, "sample": 0, "response": "x", "rating_logits_expected": NaN}', "NaN is not a JSON number"),
        ('{"index": 3, "sample": 0, "response": "x", "rating_logits_expected": -Infinity}', "not a JSON number"),
        ('{"index": 3, "sample": 0, "response": "x", "rating_logits_expected": 1e999}', "rating_logits_expected"),
        ('{"index": 3, "sample": 0, "response": "x", "rating_logits_probs": {"1": "a"}}', "rating_logits_probs"),
        ('{"index": 3, "sample": 0, "response": "x", "user_id": 12}', "'user_id' is not a string"),
        ('{"index": 3, "sample": 0, "response": 4}', "'response' is not a string"),
    ],
)
def test_generation_lines_whose_numbers_are_not_numbers_are_named(tmp_path, caplog, line, problem):
    data = write_prepared(tmp_path / "t.parquet", _rows())
    gens = write_generations(tmp_path / "g.jsonl", _records(n=3), data)
    with gens.open("a") as handle:
        handle.write(line + "\n")
    assert _evaluate(data, gens, tmp_path / "e") == 2
    _refused(caplog, str(gens), "1 malformed line(s): line 4", problem)


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_limit_below_one_is_refused(tmp_path, caplog, limit):
    data = write_prepared(tmp_path / "t.parquet", _rows())
    gens = write_generations(tmp_path / "g.jsonl", _records(), data)
    assert _evaluate(data, gens, tmp_path / "e", "--limit", limit) == 2
    _refused(caplog, "--limit must be at least 1")


# ------------------------------------------------------------------------------------ a report is published whole


def _two_source_data(tmp_path):
    rows = _rows() + [prepared_row(4, "u4", "i4", 7.0, source=B, scale=(1.0, 10.0))]
    return write_prepared(tmp_path / "two.parquet", rows)


def test_rewriting_a_report_leaves_no_stale_plots(tmp_path):
    two = _two_source_data(tmp_path)
    one = write_prepared(tmp_path / "one.parquet", _rows())
    out = tmp_path / "eval"
    assert _evaluate(two, write_generations(tmp_path / "g2.jsonl", _records(n=5), two), out) == 0
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(
        f"reczero_{s}_{k}.png" for s in "ab" for k in ("confusion", "errors", "per_rating_mae")
    )
    assert _evaluate(one, write_generations(tmp_path / "g1.jsonl", _records(), one), out) == 0
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        f"reczero_a_{k}.png" for k in ("confusion", "errors", "per_rating_mae")
    ]
    assert "reczero/b" not in (out / "report.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["n_prompts"] == 4
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".eval")) == []  # no staging left behind


def test_a_failure_while_writing_keeps_the_old_report(tmp_path, monkeypatch):
    data = write_prepared(tmp_path / "t.parquet", _rows())
    gens = write_generations(tmp_path / "g.jsonl", _records(), data)
    out = tmp_path / "eval"
    assert _evaluate(data, gens, out) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(R, "plot_errors", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _evaluate(data, gens, out, "--title", "new")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".eval")] == []


@pytest.mark.parametrize("command", ["evaluate", "baselines"])
def test_report_folder_must_be_a_folder_of_reports(tmp_path, caplog, command):
    data = write_prepared(tmp_path / "t.parquet", _rows())
    gens = write_generations(tmp_path / "g.jsonl", _records(), data)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for out, needle in ((busy, "notes.txt"), (a_file, "is a file"), (a_file / "sub", "a parent of it is a file")):
        caplog.clear()
        if command == "evaluate":
            argv = ["evaluate", "--data", str(data), "--generations", str(gens), "--output-dir", str(out)]
        else:
            argv = ["baselines", "--train", str(data), "--test", str(data), "--output-dir", str(out), "--no-mf"]
        assert cli_main(argv) == 2
        _refused(caplog, str(out), needle)
    assert (busy / "notes.txt").read_text() == "mine" and sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_input_errors_are_bad_input_errors():
    assert issubclass(EvaluationInputError, BadInputError)
    assert EvaluationInputError("x").exit_code == 2
