# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Rating results are byte-for-byte those of the release before the ranking and like tasks (issue 12).

``tests/golden/rating/`` holds what ``baselines`` and ``evaluate --baselines`` wrote for the inputs built here, made
with the code of commit d9aeb49 (before the evaluation learnt the new tasks): ``metrics.json`` and ``report.md`` of
both commands byte for byte, the content, column order and dtypes of both ``predictions.parquet`` files and the names
of the plots. Paths are relative (the commands run in the test's folder) so the files do not depend on where it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reczero_verl.cli import main as cli_main
from tests.builders import prepared_row, tbr, write_generations, write_prepared

GOLDEN = Path(__file__).parent / "golden" / "rating"
A, B = "reczero/a", "reczero/b"

# Two sources on two scales, two samples per prompt, unparsed and out-of-format answers.
RESPONSES = {
    (0, 0): tbr("4.5"),
    (0, 1): "I think four",
    (1, 0): tbr("3"),
    (1, 1): tbr("1"),
    (2, 0): "no rating here",
    (2, 1): "<rate>five</rate>",
    (3, 0): "<rate>7</rate>",
    (3, 1): tbr("2"),
    (4, 0): tbr("many"),
    (4, 1): tbr("8"),
    (5, 0): tbr("2.5"),
    (5, 1): tbr("10"),
}


def write_inputs(folder: Path) -> None:
    """``train.parquet``, ``test.parquet`` and ``gen.jsonl`` in ``folder``."""
    hist = [{"item_id": "i0", "rating": 5.0, "timestamp": 3}, {"item_id": "i1", "rating": 2.0, "timestamp": 4}]
    write_prepared(
        folder / "train.parquet",
        [
            prepared_row(0, "u0", "i1", 4.0, split="train", timestamp=5, source=A, user_history=hist),
            prepared_row(1, "u1", "i0", 3.0, split="train", timestamp=6, source=A),
            prepared_row(2, "u2", "i2", 5.0, split="train", timestamp=7, source=A),
            prepared_row(3, "u4", "i4", 7.0, split="train", timestamp=8, source=B, scale=(1.0, 10.0)),
            prepared_row(4, "u5", "i4", 3.0, split="train", timestamp=9, source=B, scale=(1.0, 10.0)),
        ],
    )
    test = write_prepared(
        folder / "test.parquet",
        [
            prepared_row(0, "u0", "i0", 4.0, timestamp=20, source=A, user_history=hist),
            prepared_row(1, "u1", "i1", 2.0, timestamp=21, source=A),
            prepared_row(2, "u2", "i0", 5.0, timestamp=22, source=A),
            prepared_row(3, "u3", "i2", 4.0, timestamp=23, source=A),
            prepared_row(4, "u4", "i5", 9.0, timestamp=24, source=B, scale=(1.0, 10.0)),
            prepared_row(5, "u5", "i4", 2.0, timestamp=25, source=B, scale=(1.0, 10.0)),
        ],
    )
    records = [{"index": i, "sample": s, "response": r} for (i, s), r in sorted(RESPONSES.items())]
    write_generations(folder / "gen.jsonl", records, test)


def run_commands(folder: Path) -> None:
    """``baselines`` into ``folder/base`` and ``evaluate --baselines`` into ``folder/eval`` (relative paths)."""
    base = ["baselines", "--train", "train.parquet", "--test", "test.parquet", "--output-dir", "base", "--no-mf"]
    assert cli_main(base) == 0
    ev = ["evaluate", "--data", "test.parquet", "--generations", "gen.jsonl", "--output-dir", "eval"]
    assert cli_main([*ev, "--baselines", "base/metrics.json"]) == 0


def table_summary(path: Path) -> dict:
    """The content, column order and dtypes of a predictions.parquet (its bytes depend on the pyarrow version)."""
    frame = pd.read_parquet(path)
    return {
        "columns": list(frame.columns),
        "dtypes": [str(t) for t in frame.dtypes],
        "rows": json.loads(frame.to_json(orient="values", double_precision=15)),
    }


def test_rating_outputs_are_byte_for_byte_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    run_commands(tmp_path)
    for folder in ("base", "eval"):
        for name in ("metrics.json", "report.md"):
            assert (tmp_path / folder / name).read_bytes() == (GOLDEN / folder / name).read_bytes(), (folder, name)
        expected = json.loads((GOLDEN / folder / "predictions.json").read_text())
        assert table_summary(tmp_path / folder / "predictions.parquet") == expected, folder
        plots = sorted(p.name for p in (tmp_path / folder / "plots").iterdir())
        assert plots == expected_plots(folder)


def expected_plots(folder: str) -> list[str]:
    return json.loads((GOLDEN / folder / "plots.json").read_text())
