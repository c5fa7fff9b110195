# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The one exception base class of the project's commands, carrying its exit code.

Every error a user can cause (a bad file, a bad option, a refused input) is a :class:`ReczeroError` subclass whose
message names the file, line or field and the fix. ``reczero_verl.cli.main`` maps it to one logged line and its
``exit_code``, once, for every command; nothing else prints tracebacks for user errors.
"""

from __future__ import annotations

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "ReczeroError", "BadInputError"]

EXIT_OK = 0
#: The command could not finish (e.g. an endpoint is down, a training step failed); rerunning may help.
EXIT_FAILED = 1
#: The input or an option is wrong; the message says which and how to fix it.
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class ReczeroError(Exception):
    """Base class of every user-facing error; ``exit_code`` is what the command returns for it."""

    exit_code: int = EXIT_FAILED


class BadInputError(ReczeroError, ValueError):
    """An input file, a field or an option is wrong (exit code 2)."""

    exit_code = EXIT_BAD_INPUT
