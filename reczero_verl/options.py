# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Command-line options shared by the commands: the ranges of number options and the output-folder flag, said once.

A number option's range is a :class:`NumberRule` (:data:`positive_int`, :data:`non_negative_int`,
:data:`positive_float`, :data:`non_negative_float`, :data:`fraction`) attached to the field of the command's config
dataclass with :func:`option`. The config's ``__post_init__`` calls :func:`check_options`, which raises
:class:`~reczero_verl.errors.BadInputError` naming the option: a value out of range is refused the same way from
Python and from the command line (one logged line, exit code 2, like every other bad input). The parser takes the
rule, the default and the range's wording from that field (:func:`add_option`), and :func:`from_args` builds the
config from the parsed arguments, so each range is written once. As an argparse ``type`` a rule only parses the
number: text that is no number is argparse's usage error.

Folders are ``--output-dir`` and files ``--output`` in every command; :func:`add_output_dir` keeps a command's older
spelling of its folder flag as a hidden alias so existing scripts keep working.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reczero_verl.errors import BadInputError

__all__ = [
    "NumberRule",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "non_negative_float",
    "fraction",
    "option",
    "option_flag",
    "check_options",
    "add_option",
    "add_output_dir",
    "from_args",
    "as_paths",
]

_Config = TypeVar("_Config")


@dataclasses.dataclass(frozen=True, repr=False)
class NumberRule:
    """The values a number option accepts: ``minimum`` (allowed when ``inclusive``) up to ``maximum`` (excluded)."""

    name: str  #: shown by argparse for text that is no number ("invalid positive_int value")
    parse: Callable[[str], int | float]
    minimum: float
    inclusive: bool = True
    maximum: float | None = None

    def __call__(self, text: str) -> int | float:
        """Parse ``text`` as the rule's number type (argparse ``type=``); the range is checked by the config."""
        return self.parse(text)

    def __repr__(self) -> str:
        return self.name

    @property
    def whole(self) -> bool:
        """The option takes whole numbers."""
        return self.parse is int

    def describe(self, flag: str | None = None) -> str:
        """The range in words (``at least 1``, ``more than 0``); with ``flag``, a strict bound also as an inequality
        (``more than 0 (--timeout > 0)``), since "more than" is easily misread as "at least"."""
        low = f"{self.minimum:g}"
        if self.maximum is not None:
            return f"in [{low}, {self.maximum:g})"
        if self.inclusive:
            return f"at least {low}"
        return f"more than {low}" + (f" ({flag} > {low})" if flag else "")

    def is_number(self, value: Any) -> bool:
        """Whether ``value`` is of the rule's type (a bool is not a number here)."""
        return not isinstance(value, bool) and isinstance(value, numbers.Integral if self.whole else numbers.Real)

    def in_range(self, value: Any) -> bool:
        """Whether the number ``value`` is in the rule's range (NaN never is)."""
        if math.isnan(value) or value < self.minimum or (value == self.minimum and not self.inclusive):
            return False
        return self.maximum is None or value < self.maximum

    def check(self, flag: str, value: Any) -> None:
        """Raise :class:`BadInputError` naming ``flag`` when ``value`` is not a number of the rule's type or is out
        of its range."""
        if not self.is_number(value):
            kind = "whole number" if self.whole else "number"
            raise BadInputError(f"{flag} must be a {kind} {self.describe(flag)}, got {value!r}")
        if not self.in_range(value):
            raise BadInputError(f"{flag} must be {self.describe(flag)}, got {value!r}")


#: Counts and sizes where 0 means nothing (``--n``, ``--limit``, ``--batch-size``, ``--concurrency``...).
positive_int = NumberRule("positive_int", int, 1)
#: Counts where 0 means something the option's help says (``--max-retries 0``: no retries; seeds).
non_negative_int = NumberRule("non_negative_int", int, 0)
#: Amounts where 0 means nothing (``--timeout``, ``--top-p``, learning rates).
positive_float = NumberRule("positive_float", float, 0.0, inclusive=False)
#: Amounts where 0 means something the option's help says (``--temperature 0``: greedy; ``--tolerance 0``: exact).
non_negative_float = NumberRule("non_negative_float", float, 0.0)
#: A share of a whole, 0 included, 1 excluded (``--val-ratio``).
fraction = NumberRule("fraction", float, 0.0, maximum=1.0)


def option(
    flag: str | None = None,
    rule: NumberRule | None = None,
    *,
    choices: tuple[str, ...] | None = None,
    **field_kwargs: Any,
) -> Any:
    """A config dataclass field set by a command-line option: ``flag`` (default ``--`` and the field's name with
    dashes) names it in messages; ``rule`` bounds a number, ``choices`` lists the accepted words (both checked by
    :func:`check_options`); ``field_kwargs`` go to :func:`dataclasses.field` (``default=...``)."""
    return dataclasses.field(metadata={"flag": flag, "rule": rule, "choices": choices}, **field_kwargs)


def _field(config_type: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(config_type):
        if f.name == name:
            return f
    raise KeyError(f"{config_type.__name__} has no field {name!r}")


def option_flag(config_type: type, name: str) -> str:
    """The command-line flag of the config field ``name``."""
    return _field(config_type, name).metadata.get("flag") or "--" + name.replace("_", "-")


def check_options(config: Any) -> None:
    """Check every bounded or listed field of the dataclass ``config``; None means unset and is not checked."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        flag = option_flag(type(config), f.name)
        rule, choices = f.metadata.get("rule"), f.metadata.get("choices")
        if rule is not None:
            rule.check(flag, value)
        if choices is not None and value not in choices:
            raise BadInputError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_option(parser: Any, config_type: type, name: str, help: str, **kwargs: Any) -> argparse.Action:
    """Add the option setting the field ``name`` of ``config_type`` to ``parser`` (a parser or an argument group).

    The flag, the rule (as ``type``), the choices, the default (a field without one is a required option) and the
    help's range and default come from the field; ``kwargs`` go to ``add_argument`` (``choices``, ``action``...).
    """
    f = _field(config_type, name)
    flag = option_flag(config_type, name)
    rule: NumberRule | None = f.metadata.get("rule")
    notes = []
    if rule is not None:
        kwargs.setdefault("type", rule)
        notes.append(rule.describe())
    if f.metadata.get("choices") is not None:
        kwargs.setdefault("choices", f.metadata["choices"])
    if f.default is dataclasses.MISSING:
        kwargs.setdefault("required", True)
    else:
        kwargs.setdefault("default", f.default)
        if f.default is not None and f.default is not False and f.default != "":
            notes.append(f"default {_shown(f.default)}")
    return parser.add_argument(flag, dest=name, help=help + (f" ({'; '.join(notes)})" if notes else ""), **kwargs)


def add_output_dir(parser: Any, help: str, *, old_flag: str | None = "--output") -> None:
    """Add the required ``--output-dir`` folder option (``dest="output_dir"``).

    ``old_flag`` is the command's former spelling, kept working but hidden from ``--help`` (both at once is an error).
    """
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--output-dir", dest="output_dir", type=Path, help=help)
    if old_flag is not None:
        group.add_argument(old_flag, dest="output_dir", type=Path, help=argparse.SUPPRESS)


def from_args(config_type: type[_Config], args: argparse.Namespace, **given: Any) -> _Config:
    """Build the config ``config_type`` from parsed ``args``: each field from the attribute of its name (fields the
    command line does not set keep their defaults), ``given`` taking precedence."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_type) if hasattr(args, f.name)}
    return config_type(**{**values, **given})


def as_paths(config: Any, *names: str) -> None:
    """Make the fields ``names`` of the frozen dataclass ``config`` :class:`~pathlib.Path` objects (None stays)."""
    for name in names:
        value = getattr(config, name)
        if value is not None and not isinstance(value, Path):
            object.__setattr__(config, name, Path(value))
