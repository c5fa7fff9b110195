# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""reczero-verl: RecZero and RecOne (Think before Recommendation, arXiv 2510.23077) as a plugin for verl.

Importing this package is cheap on purpose (no torch, no verl): the command line starts fast and verl loads the
heavy parts through the ``verl.plugins`` entry point (:mod:`reczero_verl.plugin`) only when verl itself is imported.
"""

__version__ = "0.1.0"

#: The verl release every recipe and contract of this package was validated against.
REQUIRED_VERL = "0.9.1"

__all__ = ["__version__", "REQUIRED_VERL"]
