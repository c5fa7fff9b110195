# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""RecOne cold start: teacher TbR traces from an OpenAI-compatible endpoint, filtered and rationalized, as SFT data.

Modules: :mod:`~reczero_verl.coldstart.traces` (pure keep/rationalize rules), :mod:`~reczero_verl.coldstart.leaks`
(the lexical leak rules, a cheap first pass), :mod:`~reczero_verl.coldstart.leak_judge` (the blind judge model's prompt
and verdict parser), :mod:`~reczero_verl.coldstart.samples` (input and stratified selection),
:mod:`~reczero_verl.coldstart.client` (the ``openai`` SDK with ``tenacity`` retries),
:mod:`~reczero_verl.coldstart.journal` (durable append-only audit log, resume), :mod:`~reczero_verl.coldstart.runner`
(the async loop), :mod:`~reczero_verl.coldstart.export` (SFT parquet and stats), :mod:`~reczero_verl.coldstart.config`
(the options, :class:`~reczero_verl.coldstart.config.ColdstartConfig`), :mod:`~reczero_verl.coldstart.pipeline` (one
run: :func:`~reczero_verl.coldstart.pipeline.run_coldstart`, the Python API) and :mod:`~reczero_verl.coldstart.cli`
(``reczero-verl coldstart``, which only parses). Importing the package is light: no torch, verl or openai at import
time.
"""
