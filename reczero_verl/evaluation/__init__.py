# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluation of rating predictions: generation, scoring, classical baselines, report and plots.

Modules: :mod:`.data` (reading the prepared parquet and generation files, strictly), :mod:`.metrics` (pure metric
functions), :mod:`.report` (markdown and PNG plots), and the three commands :mod:`.generate`, :mod:`.evaluate` and
:mod:`.baselines`. Each command has a typed Python API (``GenerateConfig`` and ``generate``, ``EvaluateConfig`` and
``write_evaluation_report``, ``BaselinesConfig`` and ``write_baselines_report``) under ``configure_parser`` /
``config_from_args`` / ``main``, which only parse for ``reczero-verl``.
"""
