# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Prepare amazon data for RecZero: ``python data_preprocess/amazon.py ARGS`` = ``reczero-verl prepare amazon ARGS``.

A thin wrapper in the layout of verl's ``examples/data_preprocess``; all logic lives in :mod:`reczero_verl.prepare`.
Run with ``--help`` for the options.
"""

import sys

from reczero_verl.cli import main

if __name__ == "__main__":
    sys.exit(main(["prepare", "amazon", *sys.argv[1:]]))
