# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The typed Python API of ``prepare``: the same run as the command line, refusals naming the field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from reczero_verl.prepare.api import (
    AmazonReviews,
    InteractionsTable,
    PrepareConfig,
    SplitConfig,
    YelpReviews,
    prepare,
)
from reczero_verl.prepare.cli import run_prepare
from reczero_verl.prepare.sources import PrepareError
from tests.test_prepare_pipeline import random_events, review2018, write_lines


@pytest.fixture
def reviews(tmp_path) -> Path:
    events = random_events(seed=3, n=160, users=12, items=9)
    lines = [review2018(e["user"], e["item"], e["rating"], e["ts"], e["text"]) for e in events]
    return write_lines(tmp_path / "reviews.json", lines)


def _parquets(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


def test_python_api_writes_what_the_command_line_writes(tmp_path, reviews):
    cli_stats = run_prepare(
        ["amazon", "--reviews", str(reviews), "--output-dir", str(tmp_path / "cli"), "--name", "t", "--seed", "5"]
    )
    api_stats = prepare(
        AmazonReviews(reviews=reviews),
        PrepareConfig(output_dir=tmp_path / "api", name="t", split=SplitConfig(seed=5)),
    )
    assert _parquets(tmp_path / "api") == _parquets(tmp_path / "cli") != {}
    assert api_stats["written"] == cli_stats["written"] and api_stats["dropped"] == cli_stats["dropped"]
    options = json.loads((tmp_path / "api" / "stats.json").read_text())["run"]["options"]
    assert options["source"] == "amazon" and options["reviews"] == str(reviews)
    assert options["split"]["seed"] == 5 and "output_dir" not in options


def test_interactions_table_from_python(tmp_path):
    path = tmp_path / "log.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["u", "i", "r", "t", "name"])
        for e in random_events(seed=4, n=90, users=8, items=6):
            out.writerow([e["user"], e["item"], e["rating"], e["ts"], f"thing {e['item']}"])
    table = InteractionsTable(
        input=path, user_col="u", item_col="i", rating_col="r", time_col="t", item_cols={"title": "name"}
    )
    stats = prepare(table, PrepareConfig(output_dir=tmp_path / "out", name="log"))
    assert sum(stats["written"].values()) > 0
    assert stats["run"]["options"]["item_cols"] == {"title": "name"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: AmazonReviews(reviews=p, cross_item_dedup="maybe"), "--cross-item-dedup must be one of"),
        (lambda p: InteractionsTable(p, "u", "i", "r", "t", time_unit="hours"), "--time-unit must be one of"),
        (lambda p: InteractionsTable(p, "u", "i", "r", "t", item_cols={"colour": "c"}), "--item-cols: colour"),
    ],
)
def test_bad_source_options_are_refused_when_built(tmp_path, make, message):
    with pytest.raises(PrepareError, match=message):
        make(tmp_path / "x.json")


def test_checks_run_before_any_input_is_read(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="holds files that are not a prepare run"):
        prepare(YelpReviews(reviews=tmp_path / "missing.json"), PrepareConfig(output_dir=tmp_path / "out", name="y"))
    with pytest.raises(PrepareError, match="--reviews"):
        prepare(YelpReviews(reviews=tmp_path / "missing.json"), PrepareConfig(output_dir=tmp_path / "new", name="y"))
