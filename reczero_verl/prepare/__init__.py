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
"""Prepare raw rating dumps (Amazon, Yelp, EXP3RT IMDb, your own logs) into TbR samples for verl.

``reczero-verl prepare <source> ...`` (see :mod:`reczero_verl.prepare.cli`) reads a raw dump out of core with DuckDB
(:mod:`.sources` knows the raw formats, :mod:`.pipeline` does validation, dedup, histories, splits and sampling,
:mod:`.samples` streams the histories and the rendering chunk by chunk through row stores on disk, :mod:`.store`) and
writes the prepared-sample parquet contract (:mod:`.render`), with every text neutralised (:mod:`.sanitize`), into a
staging folder that replaces the output folder as one unit (:mod:`.publish`); bad input and options are refused
with one clear error (:mod:`.checks`). This package imports neither torch nor verl.
"""
