# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The prepared-sample contract: the package writer's schema is exactly the contract; the test builders follow it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from reczero_verl import contract
from reczero_verl.contract import SAMPLE_SCHEMA
from tests.builders import CONTRACT_SCHEMA, prepared_row, write_prepared


def test_package_schema_is_the_contract():
    assert SAMPLE_SCHEMA.equals(CONTRACT_SCHEMA), SAMPLE_SCHEMA


def test_builder_follows_the_contract(tmp_path):
    path = write_prepared(tmp_path / "t.parquet", [prepared_row(0, "u", "i", 4.0)])
    table = pq.read_table(path)
    assert table.schema.equals(CONTRACT_SCHEMA)
    row = table.to_pylist()[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["extra_info"]["index"] == 0 and row["reward_model"]["ground_truth"] == 4.0


def test_reward_import_stays_free_of_pyarrow():
    # the reward is imported in every verl reward worker; the schema (pyarrow) is built only on first use
    code = "import sys, reczero_verl.reward; print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_schema_types_and_unknown_names():
    assert contract.SAMPLE_SCHEMA.field("extra_info").type == contract.EXTRA_INFO_TYPE
    assert contract.EXTRA_INFO_TYPE.names[-3:] == ["task", "candidates", "like_threshold"]
    assert contract.CANDIDATES_TYPE.value_type.names == ["item_id", *contract.ITEM_FIELDS, "avg_rating"]
    with pytest.raises(AttributeError):
        contract.NOT_A_TYPE  # noqa: B018


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("  ", None),
        (" Shoes ", "Shoes"),
        (["Clothing", ["Shoes"], None, "", "Clothing"], "Clothing, Shoes"),
        ({"Material:": "cotton", "Size": None, "Fit": ["slim"]}, "Material: cotton; Fit: slim"),
        (float("nan"), None),
        (3, "3"),
        (np.array(["a", "b"], dtype=object), "a, b"),
    ],
)
def test_flatten_text(value, expected):
    assert contract.flatten_text(value) == expected


def test_prompt_messages_accepts_parquet_and_json_shapes():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert contract.prompt_messages(messages) == messages
    assert contract.prompt_messages(np.array(messages, dtype=object)) == messages


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, "not a list of messages"),
        ("hello", "not a list of messages"),
        ({"role": "user", "content": "u"}, "not a list of messages"),
        ([], "must end with a user message"),
        ([{"role": "user"}], r"prompt\[0\] has no string role/content"),
        (["user: hi"], r"prompt\[0\] is not a \{role, content\} struct"),
        ([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}], "must end with a user message"),
    ],
)
def test_prompt_messages_refuses(value, error):
    with pytest.raises(ValueError, match=error):
        contract.prompt_messages(value)


def test_data_source_names():
    assert contract.data_source("fashion") == "reczero/fashion"
    assert contract.data_source("fashion", "ranking") == "reczero/fashion/ranking"
    with pytest.raises(ValueError, match="not one of"):
        contract.data_source("fashion", "ctr")


@pytest.mark.parametrize(
    ("ground_truth", "extra", "expected"),
    [
        (4.0, {"rating_min": 1.0, "rating_max": 5.0}, contract.RowTruth("rating", 4.0, 1.0, 5.0)),
        ("7", {"rating_min": 1.0, "rating_max": 10.0}, contract.RowTruth("rating", 7.0, 1.0, 10.0)),
        ({"ground_truth": 3}, None, contract.RowTruth("rating", 3.0, 1.0, 5.0)),
        (
            2.0,
            {"task": "ranking", "candidates": ["a", "b", "c"]},
            contract.RowTruth("ranking", 2.0, 1.0, 5.0, n_candidates=3, candidates=("a", "b", "c")),
        ),
        (
            "c",
            {"task": "ranking", "candidates": np.array(["a", "b", "c"], dtype=object)},
            contract.RowTruth("ranking", 3.0, 1.0, 5.0, n_candidates=3, candidates=("a", "b", "c")),
        ),
        (1.0, {"task": "like", "like_threshold": 4.0}, contract.RowTruth("like", 1.0, 1.0, 5.0, like_threshold=4.0)),
        (0, {"task": "like", "like_threshold": None}, contract.RowTruth("like", 0.0, 1.0, 5.0)),
    ],
)
def test_row_truth(ground_truth, extra, expected):
    assert contract.row_truth(ground_truth, extra) == expected


@pytest.mark.parametrize(
    ("ground_truth", "extra", "error"),
    [
        (6.0, {"rating_min": 1.0, "rating_max": 5.0}, "outside the rating scale"),
        (True, None, "boolean"),
        (float("nan"), None, "not a finite number"),
        (4.0, {"task": "ranking", "candidates": ["a", "b", "c"]}, "not a candidate number in 1..3"),
        (1.0, {"task": "ranking", "candidates": []}, "needs extra_info.candidates"),
        ("z", {"task": "ranking", "candidates": ["a", "b"]}, "appears 0 times"),
        (0.5, {"task": "like"}, "not 0 or 1"),
        (1.0, {"task": "ctr"}, "is not a task"),
    ],
)
def test_row_truth_refuses(ground_truth, extra, error):
    with pytest.raises(ValueError, match=error):
        contract.row_truth(ground_truth, extra)
