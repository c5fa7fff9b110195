# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure metric functions of rating prediction (no I/O), shared by ``evaluate`` and ``baselines``.

A *prediction frame* has one row per predicted target with the columns ``index``, ``data_source``, ``y`` (true
rating), ``rating_min``, ``rating_max``, ``pred`` (the prediction clipped to the scale, NaN when none was parsed),
``parsed`` (bool) and ``format_ok`` (1.0 / 0.0, NaN where format does not apply, e.g. a baseline).

Definitions (per prediction frame, each row weighted equally):

* ``error_i = |pred_i - y_i|`` when parsed, else ``rating_max_i - rating_min_i`` (the maximum error of the row's
  scale): an unparseable answer is a failure, never replaced by the ground truth;
* ``mae = mean(error)``, ``rmse = sqrt(mean(error**2))`` (the headline figures), ``mae_normalized =
  mean(error / (rating_max - rating_min))`` (comparable across scales);
* ``coverage = mean(parsed)``; ``mae_parsed`` / ``rmse_parsed`` are over parsed rows only (None when none parsed);
* ``format_ok_rate = mean(format_ok)`` over rows where it applies (None when it never does);
* ``per_rating[r]``: ``n``, ``mae``, ``rmse`` and ``coverage`` over rows whose true rating is ``r`` (when a frame holds
  more than :data:`MAX_RATING_GROUPS` distinct true ratings, e.g. continuous ones, ``r`` is the true rating rounded to
  the nearest integer, halves up).

From K samples per prompt (a *sample frame*, one row per ``(index, sample)``) three prediction frames are derived:
``first_sample`` (sample 0), ``mean_of_samples`` (mean of the clipped predictions of the parsed samples; parsed when at
least one sample parsed, otherwise counted at the maximum error; its format_ok is NaN: format belongs to a sample) and
``per_sample`` (every sample its own prediction, as verl's validation averages them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl.template import format_rating

__all__ = [
    "PREDICTION_COLUMNS",
    "errors",
    "metric_block",
    "first_sample",
    "mean_of_samples",
    "per_sample",
    "sample_predictions",
    "compute_metrics",
    "rating_label",
    "rating_groups",
    "MAX_RATING_GROUPS",
    "json_safe",
]

PREDICTION_COLUMNS: tuple[str, ...] = (
    "index",
    "data_source",
    "y",
    "rating_min",
    "rating_max",
    "pred",
    "parsed",
    "format_ok",
)


#: Above this many distinct true ratings, per-rating figures group true ratings by their nearest integer.
MAX_RATING_GROUPS = 20


def rating_groups(y: np.ndarray) -> np.ndarray:
    """The per-rating group of each true rating: itself, or its nearest integer when there are too many distinct."""
    y = np.asarray(y, dtype=float)
    if len(np.unique(y)) <= MAX_RATING_GROUPS:
        return y
    return np.floor(y + 0.5)


def rating_label(value: float) -> str:
    """Key of a true rating in ``per_rating``: ``"4"`` for 4.0, ``"4.5"`` for 4.5."""
    return format_rating(value)


def errors(frame: pd.DataFrame) -> np.ndarray:
    """Absolute error of every row: ``|pred - y|`` when parsed, the scale's maximum error otherwise."""
    parsed = frame["parsed"].to_numpy(dtype=bool)
    y = frame["y"].to_numpy(dtype=float)
    pred = frame["pred"].to_numpy(dtype=float)
    max_error = frame["rating_max"].to_numpy(dtype=float) - frame["rating_min"].to_numpy(dtype=float)
    if np.any(parsed & ~np.isfinite(pred)):
        raise ValueError("a row marked parsed has a non-finite prediction")
    return np.where(parsed, np.abs(np.where(parsed, pred, 0.0) - y), max_error)


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _rmse_or_none(values: np.ndarray) -> float | None:
    return float(math.sqrt(np.mean(values * values))) if len(values) else None


def metric_block(frame: pd.DataFrame) -> dict[str, Any]:
    """All metrics of one prediction frame (see the module docstring for the definitions)."""
    n = len(frame)
    if n == 0:
        raise ValueError("cannot compute metrics of an empty prediction frame")
    err = errors(frame)
    parsed = frame["parsed"].to_numpy(dtype=bool)
    max_error = frame["rating_max"].to_numpy(dtype=float) - frame["rating_min"].to_numpy(dtype=float)
    format_ok = frame["format_ok"].to_numpy(dtype=float)
    format_known = format_ok[np.isfinite(format_ok)]
    per_rating: dict[str, dict[str, Any]] = {}
    groups = rating_groups(frame["y"].to_numpy(dtype=float))
    for value in np.unique(groups):
        mask = groups == value
        per_rating[rating_label(value)] = {
            "n": int(mask.sum()),
            "mae": float(np.mean(err[mask])),
            "rmse": float(math.sqrt(np.mean(err[mask] ** 2))),
            "coverage": float(np.mean(parsed[mask])),
        }
    return {
        "n": n,
        "mae": float(np.mean(err)),
        "rmse": float(math.sqrt(np.mean(err * err))),
        "mae_normalized": float(np.mean(err / max_error)),
        "coverage": float(np.mean(parsed)),
        "n_parsed": int(parsed.sum()),
        "mae_parsed": _mean_or_none(err[parsed]),
        "rmse_parsed": _rmse_or_none(err[parsed]),
        "format_ok_rate": _mean_or_none(format_known),
        "per_rating": per_rating,
    }


def _check_samples(samples: pd.DataFrame) -> None:
    missing = [c for c in (*PREDICTION_COLUMNS, "sample") if c not in samples.columns]
    if missing:
        raise ValueError(f"sample frame lacks columns {missing}")


def first_sample(samples: pd.DataFrame) -> pd.DataFrame:
    """The prediction of sample 0 of every prompt."""
    _check_samples(samples)
    out = samples.loc[samples["sample"] == 0, list(PREDICTION_COLUMNS)]
    if out["index"].nunique() != samples["index"].nunique():
        raise ValueError("some prompts have no sample 0")
    return out.sort_values("index", kind="stable").reset_index(drop=True)


def mean_of_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Per prompt, the mean of the (clipped) predictions of its parsed samples; unparsed when none parsed."""
    _check_samples(samples)
    frame = samples.assign(_pred=samples["pred"].where(samples["parsed"].astype(bool)))
    grouped = frame.groupby("index", sort=True)
    out = grouped[["data_source", "y", "rating_min", "rating_max"]].first()
    out["pred"] = grouped["_pred"].mean()  # NaN-skipping: the mean over parsed samples only
    out["parsed"] = grouped["parsed"].any().astype(bool)
    out["format_ok"] = np.nan
    return out.reset_index()[list(PREDICTION_COLUMNS)]


def per_sample(samples: pd.DataFrame) -> pd.DataFrame:
    """Every sample as its own prediction (an index appears K times)."""
    _check_samples(samples)
    return samples.sort_values(["index", "sample"], kind="stable")[list(PREDICTION_COLUMNS)].reset_index(drop=True)


def sample_predictions(samples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The three prediction frames of a sample frame: ``first_sample``, ``mean_of_samples``, ``per_sample``."""
    return {
        "first_sample": first_sample(samples),
        "mean_of_samples": mean_of_samples(samples),
        "per_sample": per_sample(samples),
    }


def compute_metrics(predictions: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """Metric blocks of several prediction frames, overall and per ``data_source`` (each on its own scale).

    Returns ``{"overall": {name: block}, "by_data_source": {source: {name: block}}}``. ``overall`` mixes the scales of
    the sources when there are several; ``mae_normalized`` is the figure comparable across them.
    """
    overall = {name: metric_block(frame) for name, frame in predictions.items()}
    sources = sorted({s for frame in predictions.values() for s in frame["data_source"].unique()})
    by_source = {
        source: {name: metric_block(frame[frame["data_source"] == source]) for name, frame in predictions.items()}
        for source in sources
    }
    return {"overall": overall, "by_data_source": by_source}


def json_safe(value: Any) -> Any:
    """``value`` with NaN / inf floats replaced by None and numpy scalars by Python ones (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
