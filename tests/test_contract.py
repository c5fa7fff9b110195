# Copyright 2026 The reczero-verl Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
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
