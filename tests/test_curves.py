# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl curves``: per-step figures from verl's generation dumps.

* Hand-made dumps in the layout verl 0.9.1 writes (``<dir>/<step>.jsonl``; training lines without the reward's keys,
  validation lines with them), on a 1-10 scale, with several steps, two data sources, unparsed answers, a malformed
  line and a torn last line: every expected figure below is worked out by hand from the responses.
* The options: re-scoring with options that are not the run's is caught against verl's dumped score; the run's
  resolved config supplies the pre-fill, the scale, the data source and the dump folders.
* Bad input through the command line: exit code 2 and one message.
* ``-m e2e``: a real CPU quickstart (verl's own trainer writing the dumps), whose validation MAE / RMSE / format /
  coverage and training reward per step must equal what verl logged for the same step.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from reczero_verl import cli, quickstart
from reczero_verl.errors import BadInputError
from reczero_verl.evaluation.curves import CSV_COLUMNS, ScoringOptions, curves
from tests.builders import tbr

A, B = "reczero/a", "reczero/b"
#: The hand-made dumps' scale: 1-10, so an unparsed answer counts 9.
SCALE = ScoringOptions(rating_min=1.0, rating_max=10.0)
OK = 0.5  # the format reward of a well-formed answer (format_weight 0.5), -0.5 otherwise


def _train(output: str, gts, score: float, step: int) -> dict:
    """A training line as verl's v1 trainer writes it: no reward keys, no data_source."""
    return {"input": "prompt", "output": output, "gts": gts, "score": score, "step": step, "uid": f"u{step}"}


def _val(source: str, output: str, gts, score: float, step: int, keys: tuple | None) -> dict:
    """A validation line: the reward's keys (format_ok, parsed, abs_error, sq_error) as dumped, when given."""
    line = {"input": "prompt", "output": output, "gts": gts, "score": score, "step": step, "data_source": source}
    if keys is not None:
        line |= {"reward": score, **dict(zip(("format_ok", "parsed", "abs_error", "sq_error"), keys, strict=True))}
    return line


def _write(folder: Path, step: int, lines: list, tail: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{step}.jsonl"
    body = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(body + tail, encoding="utf-8")
    return path


# Responses of the training dumps, with what the reward makes of them on 1-10 (error = |pred - y|, 9 when unparsed).
T1 = tbr("7")  # y 9: well-formed, error 2, score 0.5 + (1 - 2/9)
T2 = "I'd say 8"  # y 3: unparsed, error 9, score -0.5
T3 = tbr("12")  # y 10: parsed but outside the scale (format fails), clipped to 10, error 0, score -0.5
T4 = "<rate>2</rate>"  # y 5: parsed, not the four sections, error 3, score -0.5
T5 = tbr("4.5")  # y 4: error 0.5, score 0.5 + (1 - 0.5/9)
T6 = tbr("10")  # y 10: error 0, score 1.5
T7 = ""  # y 1: unparsed, error 9, score -0.5
T8 = tbr("1")  # y 1: error 0, score 1.5
TORN = '{"input": "prompt", "output": "<analyze user>half a li'


@pytest.fixture
def dumps(tmp_path):
    rollouts, validation = tmp_path / "rollout_data", tmp_path / "validation_generations"
    _write(
        rollouts,
        1,
        [
            _train(T1, "9", OK + 7 / 9, 1),
            _train(T2, 3, -0.5, 1),
            "{not json",  # line 3: malformed
            _train(T3, {"ground_truth": 10}, -0.5, 1),
            _train(T4, 5.0, -0.5, 1),
        ],
    )
    _write(rollouts, 2, [_train(T5, 4, OK + 8.5 / 9, 2), _train(T6, 10, 1.5, 2), _train(T7, 1, -0.5, 2)])
    _write(rollouts, 3, [_train(T8, 1, 1.5, 3)], tail=TORN)  # line 2: a write in progress
    (rollouts / "notes.txt").write_text("not a dump")  # ignored: not <step>.jsonl
    _write(
        validation,
        0,
        [
            _val(A, tbr("3"), 5, OK + 7 / 9, 0, (1.0, 1.0, 2.0, 4.0)),
            _val(A, "no answer", 2, -0.5, 0, (0.0, 0.0, 9.0, 81.0)),
            _val(B, "dunno", 6, -0.5, 0, (0.0, 0.0, 9.0, 81.0)),
        ],
    )
    _write(
        validation,
        3,
        [
            _val(A, tbr("5"), 5, 1.5, 3, (1.0, 1.0, 0.0, 0.0)),
            _val(A, tbr("4"), 5, OK + 8 / 9, 3, (1.0, 1.0, 1.0, 1.0)),
            _val(B, "<rate>9</rate>", 6, -0.5, 3, None),  # no reward keys: re-scored (parsed, format fails, error 3)
        ],
    )
    return rollouts, validation


def _mean_chars(*responses: str) -> float:
    return sum(len(r) for r in responses) / len(responses)


#: (step, split, data_source) -> n, reward_mean, format_rate, coverage, mae, rmse, mae_parsed, response_chars_mean
EXPECTED = {
    (1, "train", "train"): (
        4, (OK + 7 / 9 - 1.5) / 4, 1 / 4, 3 / 4, (2 + 9 + 0 + 3) / 4, math.sqrt((4 + 81 + 0 + 9) / 4), 5 / 3,
        _mean_chars(T1, T2, T3, T4),
    ),
    (2, "train", "train"): (
        3, (OK + 8.5 / 9 + 1.5 - 0.5) / 3, 2 / 3, 2 / 3, (0.5 + 0 + 9) / 3, math.sqrt((0.25 + 0 + 81) / 3), 0.25,
        _mean_chars(T5, T6, T7),
    ),
    (3, "train", "train"): (1, 1.5, 1.0, 1.0, 0.0, 0.0, 0.0, len(T8)),
    (0, "val", A): (2, (OK + 7 / 9 - 0.5) / 2, 0.5, 0.5, (2 + 9) / 2, math.sqrt((4 + 81) / 2), 2.0,
                    _mean_chars(tbr("3"), "no answer")),
    (0, "val", B): (1, -0.5, 0.0, 0.0, 9.0, 9.0, math.nan, len("dunno")),
    (3, "val", A): (2, (1.5 + OK + 8 / 9) / 2, 1.0, 1.0, 0.5, math.sqrt(0.5), 0.5, _mean_chars(tbr("5"), tbr("4"))),
    (3, "val", B): (1, -0.5, 0.0, 1.0, 3.0, 3.0, 3.0, len("<rate>9</rate>")),
}  # fmt: skip


def _check_table(table: pd.DataFrame) -> None:
    assert list(table.columns) == list(CSV_COLUMNS)
    got = {(int(r.step), r.split, r.data_source): r for r in table.itertuples(index=False)}
    assert set(got) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        row = got[key]
        values = (row.n, row.reward_mean, row.format_rate, row.coverage, row.mae, row.rmse, row.mae_parsed)
        values += (row.response_chars_mean,)
        for name, value, want in zip(CSV_COLUMNS[3:], values, expected, strict=True):
            if math.isnan(want):
                assert math.isnan(value), (key, name, value)
            else:
                assert value == pytest.approx(want, abs=1e-12), (key, name, value, want)
    steps = [(int(r.step), r.split) for r in table.itertuples(index=False)]
    assert steps == sorted(steps)


def test_hand_made_dumps_give_the_hand_computed_figures(dumps, tmp_path):
    rollouts, validation = dumps
    out = tmp_path / "curves"
    result = curves(rollouts, validation, out, SCALE)
    _check_table(result.table)
    _check_table(pd.read_csv(out / "curves.csv"))  # the file says the same (the empty mae_parsed reads as NaN)
    train, val = result.stats["train"], result.stats["val"]
    assert train.torn == [f"{rollouts / '3.jsonl'}:2"]
    assert train.bad == [f"{rollouts / '1.jsonl'}:3: not JSON (JSONDecodeError)"]
    assert (train.files, train.lines, train.score_mismatch) == (3, 10, [])  # every re-scored reward is verl's
    assert (val.files, val.bad, val.torn, val.rescored, val.score_mismatch) == (2, [], [], 1, [])


def test_the_report_embeds_the_plots_and_names_skipped_lines(dumps, tmp_path):
    rollouts, validation = dumps
    out = tmp_path / "curves"
    assert cli.main(["curves", "--rollouts", str(rollouts), "--validation", str(validation), "--output-dir", str(out),
                     "--rating-min", "1", "--rating-max", "10"]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv", "plots", "report.md"]
    pngs = sorted(p.name for p in (out / "plots").iterdir())
    assert pngs == ["errors.png", "format_rate.png", "overview.png", "response_chars.png", "reward.png"]
    for name in pngs:
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    for name in pngs:
        assert f"](plots/{name})" in report
    assert "1 torn last line(s)" in report and f"{rollouts / '1.jsonl'}:3: not JSON" in report
    assert "scale 1-10" in report and "variant tbr" in report
    # A rerun (the run moved on: step 3 is complete now) replaces the folder whole.
    (rollouts / "3.jsonl").write_text(json.dumps(_train(T8, 1, 1.5, 3)) + "\n" + json.dumps(_train(T7, 1, -0.5, 3)))
    assert cli.main(["curves", "--rollouts", str(rollouts), "--output-dir", str(out), "--rating-max", "10"]) == 0
    table = pd.read_csv(out / "curves.csv")
    assert set(table["split"]) == {"train"}
    last = table[table["step"] == 3].iloc[0]
    assert (last["n"], last["mae"], last["coverage"]) == (2, 4.5, 0.5)  # the line without a newline is complete
    assert "0 torn last line(s)" in (out / "report.md").read_text()


def test_options_that_are_not_the_runs_are_caught(dumps, tmp_path, caplog):
    rollouts, _ = dumps
    # plain expects the bare <rate> answer: every well-formed TbR answer and T4 now score differently from verl.
    result = curves(rollouts, None, tmp_path / "out", ScoringOptions(variant="plain", rating_max=10.0))
    files = {1: rollouts / "1.jsonl", 2: rollouts / "2.jsonl", 3: rollouts / "3.jsonl"}
    assert result.stats["train"].score_mismatch == [
        f"{files[1]}:1", f"{files[1]}:5", f"{files[2]}:1", f"{files[2]}:2", f"{files[3]}:1",
    ]  # fmt: skip
    assert "5 of the re-scored rewards differ" in caplog.text
    assert "5 re-scored reward(s) differ from verl's dumped score" in (tmp_path / "out" / "report.md").read_text()
    # The default 1-5 scale cannot hold the ground truth 9: a wrong scale, named with the fix.
    with pytest.raises(BadInputError, match=r"1\.jsonl:1: ground truth 9 is outside the rating scale 1-5.*--config"):
        curves(rollouts, None, tmp_path / "other")


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("case", ["missing", "empty", "file", "only_torn", "none", "foreign_output"])
def test_bad_input_is_one_message_and_exit_code_2(case, tmp_path, caplog):
    folder = tmp_path / "rollout_data"
    out = tmp_path / "curves"
    argv = ["curves", "--rollouts", str(folder), "--output-dir", str(out)]
    if case == "empty":
        folder.mkdir()
        (folder / "readme.txt").write_text("x")
    elif case == "file":
        folder.write_text("x")
    elif case == "only_torn":
        _write(folder, 1, [], tail=TORN)
    elif case == "none":
        argv = ["curves", "--output-dir", str(out)]
    elif case == "foreign_output":
        _write(folder, 1, [_train(T8, 1, 1.5, 1)])
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
    assert cli.main(argv) == 2
    errors = _errors(caplog)
    assert len(errors) == 1 and "Traceback" not in errors[0], errors
    needle = {
        "missing": "no such folder",
        "empty": "holds no <step>.jsonl dump yet",
        "file": "is a file",
        "only_torn": "no usable dump line",
        "none": "nothing to read",
        "foreign_output": "not part of a report",
    }[case]
    assert needle in errors[0]
    if case == "foreign_output":
        assert (out / "mine.txt").read_text() == "keep me"


def _parquet(path: Path, rows: list[tuple[str, float, float]]) -> Path:
    frame = pd.DataFrame(
        {
            "data_source": [r[0] for r in rows],
            "extra_info": [{"index": k, "rating_min": r[1], "rating_max": r[2]} for k, r in enumerate(rows)],
        }
    )
    frame.to_parquet(path, index=False)
    return path


def _config(path: Path, rollouts: Path, validation: Path, train: Path, val: Path, prefix: str) -> Path:
    path.write_text(
        "trainer:\n"
        f"  default_local_dir: {rollouts.parent}\n"
        f"  rollout_data_dir: ${{trainer.default_local_dir}}/{rollouts.name}\n"
        f"  validation_data_dir: {validation}\n"
        "data:\n"
        f"  train_files: {train}\n"
        f"  val_files: [{val}]\n"
        "  reczero:\n    variant: tbr\n"
        "reward:\n  custom_reward_function:\n    reward_kwargs:\n"
        f"      mode: full\n      format_weight: 0.5\n      prefilled_prefix: '{prefix}'\n"
        "      variant: ${data.reczero.variant}\n",
        encoding="utf-8",
    )
    return path


def test_the_runs_config_gives_prefill_scale_sources_and_folders(tmp_path, caplog):
    """A pre-fill run on a 1-10 scale, in progress: no validation dump yet."""
    run = tmp_path / "run"
    rollouts = run / "rollout_data"
    cut = len("<analyze user>")  # the chat template wrote the tag: the response starts after it
    _write(rollouts, 1, [_train(T1[cut:], 9, OK + 7 / 9, 1), _train(T8[cut:], 1, 1.5, 1)])
    train = _parquet(tmp_path / "train.parquet", [("reczero/x", 1, 10), ("reczero/x", 1, 10)])
    val = _parquet(tmp_path / "test.parquet", [("reczero/x", 1, 10), ("reczero/y", 1, 5)])
    config = _config(tmp_path / "config.yaml", rollouts, run / "validation_generations", train, val, "<analyze user>")
    out = tmp_path / "curves"
    with caplog.at_level(logging.INFO):
        assert cli.main(["curves", "--config", str(config), "--output-dir", str(out)]) == 0
    assert "validation_generations (from --config) holds no dump yet; skipped" in caplog.text
    row = pd.read_csv(out / "curves.csv").iloc[0]
    assert (row["split"], row["data_source"], row["n"]) == ("train", "reczero/x", 2)
    assert (row["format_rate"], row["mae"], row["reward_mean"]) == (1.0, 1.0, pytest.approx((OK + 7 / 9 + 1.5) / 2))
    report = (out / "report.md").read_text()
    assert "pre-fill '<analyze user>', scale 1-10" in report and "differ from verl" not in report
    # Explicit options win over the config: without the pre-fill the answers are format failures, and verl disagrees.
    assert cli.main(["curves", "--config", str(config), "--output-dir", str(out), "--prefilled-prefix", ""]) == 0
    assert pd.read_csv(out / "curves.csv").iloc[0]["format_rate"] == 0.0
    assert "2 re-scored reward(s) differ from verl's dumped score" in (out / "report.md").read_text()
    # Validation files of two sources: dumps without data_source are pooled under "val", with a warning.
    _write(run / "validation_generations", 2, [_val(None, tbr("3"), 5, OK + 7 / 9, 2, (1.0, 1.0, 2.0, 4.0))])
    caplog.clear()
    assert cli.main(["curves", "--config", str(config), "--output-dir", str(out)]) == 0
    assert set(pd.read_csv(out / "curves.csv")["data_source"]) == {"reczero/x", "val"}
    assert "the val files hold 2 data sources" in caplog.text


def test_training_files_of_mixed_scales_need_an_explicit_scale(tmp_path, caplog):
    rollouts = tmp_path / "run" / "rollout_data"
    _write(rollouts, 1, [_train(T8, 1, 1.5, 1)])
    train = _parquet(tmp_path / "train.parquet", [("reczero/x", 1, 10), ("reczero/y", 1, 5)])
    config = _config(tmp_path / "c.yaml", rollouts, tmp_path / "none", train, train, "")
    out = tmp_path / "curves"
    assert cli.main(["curves", "--config", str(config), "--output-dir", str(out)]) == 2
    assert "mix rating scales (1-5, 1-10)" in _errors(caplog)[0]
    assert cli.main(["curves", "--config", str(config), "--output-dir", str(out), "--rating-max", "5"]) == 0


# ---- a real run: the dumps verl's own trainer wrote on the CPU backend ------------------------------------------

SOURCE = f"reczero/{quickstart.SAMPLE_NAME}"
