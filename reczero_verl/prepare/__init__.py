# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Prepare raw rating dumps (Amazon, Yelp, EXP3RT IMDb, your own logs) into TbR samples for verl.

``reczero-verl prepare <source> ...`` (see :mod:`reczero_verl.prepare.cli`) reads a raw dump out of core with DuckDB
(:mod:`.sources` knows the raw formats, :mod:`.pipeline` does validation, dedup, histories, splits and sampling,
:mod:`.samples` streams the histories and the rendering chunk by chunk through row stores on disk, :mod:`.store`) and
writes the prepared-sample parquet contract (:mod:`.render`), with every text neutralised (:mod:`.sanitize`), into a
staging folder that replaces the output folder as one unit (:mod:`.publish`); bad input and options are refused
with one clear error (:mod:`.checks`). This package imports neither torch nor verl.
"""
