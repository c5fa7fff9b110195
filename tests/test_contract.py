# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The prepared-sample contract: the package writer's schema is exactly the contract; the test builders follow it."""

from __future__ import annotations

import pyarrow.parquet as pq

from reczero_verl.prepare.render import SAMPLE_SCHEMA
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
