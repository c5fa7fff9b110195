# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The task a ``prepare`` run writes samples for (``--task rating|ranking|like``) and its options.

* ``rating`` (the default, the paper's task): the ground truth is the rating.
* ``like``: the ground truth is 1.0 when the user liked the item, else 0.0: ``rating >= --like-threshold`` for
  explicit ratings, or an explicit 0/1 column of the user's own log (``prepare interactions --label-col``), where
  ``extra_info.like_threshold`` is null.
* ``ranking``: the prompt shows ``--candidates`` items, the target and negatives (see :mod:`.ranking`); the ground
  truth is the target's 1-based candidate number.

Pure and import-light: the command line validates options with it before any work is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reczero_verl.contract import DEFAULT_TASK, TASKS

from .schema import PrepareError

__all__ = [
    "TASKS",
    "NEGATIVE_MODES",
    "DEFAULT_CANDIDATES",
    "DEFAULT_LIKE_THRESHOLD",
    "TaskConfig",
    "default_like_threshold",
    "like_label",
]

#: How ranking negatives are drawn: uniformly, or in proportion to the item's interactions strictly before the target.
NEGATIVE_MODES: tuple[str, ...] = ("uniform", "popularity")
DEFAULT_CANDIDATES = 20
#: The like threshold on the 1-5 scale; on any other scale ``--like-threshold`` must be given.
DEFAULT_LIKE_THRESHOLD = 4.0
_DEFAULT_THRESHOLD_SCALE = (1.0, 5.0)


def default_like_threshold(rating_min: float, rating_max: float) -> float | None:
    """The like threshold used when none is given: 4 on a 1-5 scale, ``None`` (must be given) on any other."""
    return DEFAULT_LIKE_THRESHOLD if (float(rating_min), float(rating_max)) == _DEFAULT_THRESHOLD_SCALE else None


def like_label(rating: float, threshold: float) -> float:
    """The like ground truth of an explicit rating: 1.0 when ``rating >= threshold``, else 0.0."""
    return 1.0 if float(rating) >= float(threshold) else 0.0


@dataclass(frozen=True)
class TaskConfig:
    """The task of a run. ``candidates`` / ``negatives`` apply to ``ranking``; ``like_threshold`` and
    ``label_column`` (labels from an explicit 0/1 column: no threshold) to ``like``."""

    name: str = DEFAULT_TASK
    candidates: int = DEFAULT_CANDIDATES
    negatives: str = "uniform"
    like_threshold: float | None = None
    label_column: bool = False

    def __post_init__(self) -> None:
        if self.name not in TASKS:
            raise PrepareError(f"--task must be one of {', '.join(TASKS)}, got {self.name!r}")
        if self.candidates < 2:
            raise PrepareError(
                f"--candidates must be >= 2 (the target and at least one negative), got {self.candidates}"
            )
        if self.negatives not in NEGATIVE_MODES:
            raise PrepareError(f"--negatives must be one of {', '.join(NEGATIVE_MODES)}, got {self.negatives!r}")
        if self.label_column and self.name != "like":
            raise PrepareError(f"--label-col applies to --task like only, not to --task {self.name}")
        if self.name == "like" and self.label_column and self.like_threshold is not None:
            raise PrepareError("--like-threshold and --label-col exclude each other: the labels come from the column")

    @property
    def negatives_needed(self) -> int:
        """How many negatives a ranking target needs (``candidates - 1``)."""
        return self.candidates - 1

    def check_scale(self, rating_min: float, rating_max: float) -> None:
        """Refuse a like task without a threshold (and no label column) or with one outside the scale: the threshold
        must lie in ``(rating_min, rating_max]``, so that both labels are possible."""
        if self.name != "like" or self.label_column:
            return
        if self.like_threshold is None:
            raise PrepareError(
                f"--task like needs --like-threshold on the rating scale [{rating_min:g}, {rating_max:g}] (the "
                f"default {DEFAULT_LIKE_THRESHOLD:g} is for the 1-5 scale)"
            )
        if not rating_min < self.like_threshold <= rating_max:
            raise PrepareError(
                f"--like-threshold {self.like_threshold:g} must lie inside the rating scale: above --rating-min "
                f"{rating_min:g} and at most --rating-max {rating_max:g}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The task record of stats.json: the task and the options that apply to it."""
        if self.name == "ranking":
            return {"name": self.name, "candidates": self.candidates, "negatives": self.negatives}
        if self.name == "like":
            label = "column" if self.label_column else "rating >= like_threshold"
            return {"name": self.name, "like_threshold": self.like_threshold, "label": label}
        return {"name": self.name}
