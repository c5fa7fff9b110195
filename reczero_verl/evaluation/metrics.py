# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Pure metric functions of each task (no I/O), shared by ``evaluate`` and ``baselines`` so their numbers compare.

Rating
------

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

Ranking
-------

A *ranking frame* has one row per prediction with ``index``, ``data_source``, ``y`` (the target's candidate number),
``n_candidates`` (M), ``position`` (the target's 1-based position in the answer; M when the answer does not list it
or did not parse: ranked last), ``listed``, ``parsed`` (bool) and ``format_ok``. With ``pos`` that position:
``hr@k = mean(pos <= k)``, ``ndcg@k = mean(1 / log2(1 + pos) if pos <= k else 0)`` (one relevant item, so the ideal
DCG is 1), ``ndcg`` without a cut-off (the reward's answer score), ``mrr = mean(1 / pos)``, ``coverage = mean(parsed)``,
``listed_rate = mean(listed)``. From K samples: ``first_sample`` and ``per_sample`` (every sample its own prediction,
so each figure is the mean of the per-sample figures); there is no ``mean_of_samples``: K rankings have no mean without
choosing a rank-aggregation rule, and the per-sample mean is what verl's validation reports.

Like
----

A *like frame* has ``index``, ``data_source``, ``y`` (0/1), ``prob`` (the answer's p; :data:`UNPARSED_LIKE_PROB` = 0.5
when it did not parse), ``parsed`` and ``format_ok``. ``auc`` is the Mann-Whitney probability that a liked row gets a
higher p than a disliked one, ties counted one half (None when one class is absent); ``logloss`` is the mean
``-(y log p + (1 - y) log(1 - p))`` with p clipped to ``[LOGLOSS_EPS, 1 - LOGLOSS_EPS]``; ``brier = mean((p - y)^2)``;
``accuracy`` counts a row right when p is on the side of 0.5 of its label (``p > 0.5`` for 1, ``p < 0.5`` for 0) and
one half when ``p == 0.5`` (no decision, e.g. an unparsed answer: a coin flip's expectation). ``ece`` is the expected
calibration error over :data:`CALIBRATION_BINS` equal-width bins of p, ``calibration`` those bins. Unparsed answers
count at p = 0.5 in every figure and are counted (``n_unparsed``); ``*_parsed`` figures use parsed answers only. From
K samples: ``first_sample``, ``mean_of_samples`` (the mean p of the parsed samples; 0.5 and unparsed when none
parsed) and ``per_sample``.

Ranking and like blocks also hold ``by_history_length``: the headline figures per band of the length of the user's
history (when the targets know it), so a report can show how the model does on cold and warm users.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl.reward import UNPARSED_LIKE_PROB, ndcg_at_position
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
    "RANKING_COLUMNS",
    "LIKE_COLUMNS",
    "HR_CUTOFFS",
    "NDCG_CUTOFFS",
    "LOGLOSS_EPS",
    "CALIBRATION_BINS",
    "HISTORY_BANDS",
    "ranking_block",
    "like_block",
    "auc",
    "log_loss",
    "calibration_bins",
    "history_band",
    "task_predictions",
    "compute_task_metrics",
    "headline",
    "HEADLINE_KEYS",
    "task_sections",
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
    """Metric blocks of several rating prediction frames, overall and per ``data_source`` (each on its own scale).

    Returns ``{"overall": {name: block}, "by_data_source": {source: {name: block}}}``. ``overall`` mixes the scales of
    the sources when there are several; ``mae_normalized`` is the figure comparable across them.
    """
    return compute_task_metrics("rating", predictions)


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


# ---------------------------------------------------------------------------------------------------------------------
# Ranking and like (see the module docstring)

RANKING_COLUMNS: tuple[str, ...] = (
    "index",
    "data_source",
    "y",
    "n_candidates",
    "position",
    "listed",
    "parsed",
    "format_ok",
)
LIKE_COLUMNS: tuple[str, ...] = ("index", "data_source", "y", "prob", "parsed", "format_ok")
#: The cut-offs of the ranking metrics.
HR_CUTOFFS: tuple[int, ...] = (1, 5, 10)
NDCG_CUTOFFS: tuple[int, ...] = (5, 10)
#: LogLoss clips p to ``[LOGLOSS_EPS, 1 - LOGLOSS_EPS]`` (a confident wrong answer costs ``-log(1e-6)`` = 13.8).
LOGLOSS_EPS = 1e-6
#: Equal-width bins of p for the calibration figures (ECE, reliability diagram).
CALIBRATION_BINS = 10
#: Bands of the user's history length: ``(label, lowest, highest)``, inclusive.
HISTORY_BANDS: tuple[tuple[str, int, float], ...] = (
    ("0", 0, 0),
    ("1-2", 1, 2),
    ("3-5", 3, 5),
    ("6-10", 6, 10),
    ("11-20", 11, 20),
    ("21-50", 21, 50),
    ("51+", 51, math.inf),
)
#: The figures each task's headline names (the first one is the one reports lead with).
HEADLINE_KEYS: dict[str, tuple[str, ...]] = {
    "rating": ("mae", "rmse"),
    "ranking": ("ndcg@10", "hr@10", "mrr"),
    "like": ("auc", "logloss"),
}


def history_band(length: float | None) -> str | None:
    """The :data:`HISTORY_BANDS` label of a history length (None when unknown)."""
    if length is None or (isinstance(length, float) and math.isnan(length)):
        return None
    for label, low, high in HISTORY_BANDS:
        if low <= length <= high:
            return label
    raise ValueError(f"a history length must be a non-negative whole number, got {length!r}")


def _positions(frame: pd.DataFrame) -> np.ndarray:
    """The target positions of a ranking frame, checked to lie in ``1..n_candidates``."""
    position = frame["position"].to_numpy(dtype=float)
    n_candidates = frame["n_candidates"].to_numpy(dtype=float)
    if np.any(~np.isfinite(position)) or np.any((position < 1) | (position > n_candidates)):
        raise ValueError("a ranking position must be a number in 1..n_candidates (M for an unranked target)")
    return position


def _ranking_figures(frame: pd.DataFrame) -> dict[str, float]:
    """HR@K, NDCG@K, NDCG and MRR of a ranking frame (see the module docstring)."""
    pos = _positions(frame)
    gains = np.array([ndcg_at_position(int(p)) for p in pos])
    out = {f"hr@{k}": float(np.mean(pos <= k)) for k in HR_CUTOFFS}
    out.update({f"ndcg@{k}": float(np.mean(np.where(pos <= k, gains, 0.0))) for k in NDCG_CUTOFFS})
    out["ndcg"] = float(np.mean(gains))
    out["mrr"] = float(np.mean(1.0 / pos))
    return out


def _by_history(frame: pd.DataFrame, figures: Callable[[pd.DataFrame], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``figures`` of the rows of each history band (empty when the frame carries no history lengths)."""
    if "history_length" not in frame.columns:
        return {}
    bands = np.array([history_band(v) for v in frame["history_length"].tolist()], dtype=object)
    out = {}
    for label, _, _ in HISTORY_BANDS:
        mask = bands == label
        if mask.any():
            out[label] = {"n": int(mask.sum()), **figures(frame[mask])}
    return out


def ranking_block(frame: pd.DataFrame) -> dict[str, Any]:
    """All metrics of one ranking frame (see the module docstring)."""
    n = len(frame)
    if n == 0:
        raise ValueError("cannot compute metrics of an empty prediction frame")
    parsed = frame["parsed"].to_numpy(dtype=bool)
    format_ok = frame["format_ok"].to_numpy(dtype=float)
    return {
        "n": n,
        **_ranking_figures(frame),
        "mean_position": float(np.mean(_positions(frame))),
        "n_candidates": float(np.mean(frame["n_candidates"].to_numpy(dtype=float))),
        "coverage": float(np.mean(parsed)),
        "n_parsed": int(parsed.sum()),
        "listed_rate": float(np.mean(frame["listed"].to_numpy(dtype=bool))),
        "format_ok_rate": _mean_or_none(format_ok[np.isfinite(format_ok)]),
        "by_history_length": _by_history(frame, _ranking_figures),
    }


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve: P(p of a random positive > p of a random negative), ties one half; None when ``y``
    holds one class only. Computed from mid-ranks (Mann-Whitney U), O(n log n)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    n_pos = int(np.sum(y == 1.0))
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(p).rank(method="average").to_numpy()
    u = float(np.sum(ranks[y == 1.0])) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy with p clipped to ``[LOGLOSS_EPS, 1 - LOGLOSS_EPS]``."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), LOGLOSS_EPS, 1.0 - LOGLOSS_EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Share of p on the label's side of 0.5, p = 0.5 counting one half (no decision)."""
    right = np.where(p == 0.5, 0.5, ((p > 0.5) == (y == 1.0)).astype(float))
    return float(np.mean(right))


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """The non-empty equal-width bins of p: ``low``, ``high``, ``n``, ``mean_prob``, ``positive_rate`` (p = 1 falls in
    the last bin)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            out.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "n": int(mask.sum()),
                    "mean_prob": float(np.mean(p[mask])),
                    "positive_rate": float(np.mean(y[mask])),
                }
            )
    return out


def _like_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(y, p)`` of a like frame, checked: labels 0/1, probabilities in [0, 1]."""
    y = frame["y"].to_numpy(dtype=float)
    p = frame["prob"].to_numpy(dtype=float)
    if np.any(~np.isin(y, (0.0, 1.0))):
        raise ValueError("a like label must be 0 or 1")
    if np.any(~np.isfinite(p)) or np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("a like probability must be a number in [0, 1] (0.5 for an unparsed answer)")
    return y, p


def _like_figures(frame: pd.DataFrame) -> dict[str, Any]:
    """AUC, LogLoss, Brier and accuracy of a like frame."""
    y, p = _like_arrays(frame)
    return {
        "auc": auc(y, p),
        "logloss": log_loss(y, p),
        "brier": float(np.mean((p - y) ** 2)),
        "accuracy": _accuracy(y, p),
    }


def like_block(frame: pd.DataFrame) -> dict[str, Any]:
    """All metrics of one like frame (see the module docstring)."""
    n = len(frame)
    if n == 0:
        raise ValueError("cannot compute metrics of an empty prediction frame")
    y, p = _like_arrays(frame)
    parsed = frame["parsed"].to_numpy(dtype=bool)
    format_ok = frame["format_ok"].to_numpy(dtype=float)
    bins = calibration_bins(y, p)
    parsed_figures = _like_figures(frame[parsed]) if parsed.any() else dict.fromkeys(("auc", "logloss", "brier"))
    return {
        "n": n,
        **_like_figures(frame),
        "ece": float(sum(b["n"] * abs(b["mean_prob"] - b["positive_rate"]) for b in bins) / n),
        "coverage": float(np.mean(parsed)),
        "n_parsed": int(parsed.sum()),
        "n_unparsed": int((~parsed).sum()),
        "auc_parsed": parsed_figures["auc"],
        "logloss_parsed": parsed_figures["logloss"],
        "brier_parsed": parsed_figures["brier"],
        "positive_rate": float(np.mean(y)),
        "mean_prob": float(np.mean(p)),
        "format_ok_rate": _mean_or_none(format_ok[np.isfinite(format_ok)]),
        "calibration": bins,
        "by_history_length": _by_history(frame, _like_figures),
    }


_BLOCKS = {"rating": metric_block, "ranking": ranking_block, "like": like_block}
_COLUMNS = {"rating": PREDICTION_COLUMNS, "ranking": RANKING_COLUMNS, "like": LIKE_COLUMNS}


def _columns(task: str, frame: pd.DataFrame) -> list[str]:
    """The task's prediction columns, plus ``history_length`` when the frame has it (ranking and like only)."""
    extra = ["history_length"] if task != "rating" and "history_length" in frame.columns else []
    return [*_COLUMNS[task], *extra]


def _task_first_sample(task: str, samples: pd.DataFrame) -> pd.DataFrame:
    """Sample 0 of every prompt of a ranking or like sample frame, in index order."""
    out = samples.loc[samples["sample"] == 0, _columns(task, samples)]
    if out["index"].nunique() != samples["index"].nunique():
        raise ValueError("some prompts have no sample 0")
    return out.sort_values("index", kind="stable").reset_index(drop=True)


def _like_mean_of_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Per prompt, the mean p of its parsed samples; p = 0.5 and unparsed when none parsed."""
    frame = samples.assign(_prob=samples["prob"].where(samples["parsed"].astype(bool)))
    grouped = frame.groupby("index", sort=True)
    keep = [c for c in _columns("like", samples) if c not in ("index", "prob", "parsed", "format_ok")]
    out = grouped[keep].first()
    out["prob"] = grouped["_prob"].mean().fillna(UNPARSED_LIKE_PROB)
    out["parsed"] = grouped["parsed"].any().astype(bool)
    out["format_ok"] = np.nan
    return out.reset_index()[_columns("like", samples)]


def task_predictions(task: str, samples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The prediction frames of one task's sample frame: rating as :func:`sample_predictions`; ranking
    ``first_sample`` and ``per_sample``; like ``first_sample``, ``mean_of_samples`` and ``per_sample``."""
    if task == "rating":
        return sample_predictions(samples)
    missing = [c for c in (*_COLUMNS[task], "sample") if c not in samples.columns]
    if missing:
        raise ValueError(f"{task} sample frame lacks columns {missing}")
    out = {"first_sample": _task_first_sample(task, samples)}
    if task == "like":
        out["mean_of_samples"] = _like_mean_of_samples(samples)
    out["per_sample"] = samples.sort_values(["index", "sample"], kind="stable")[_columns(task, samples)].reset_index(
        drop=True
    )
    return out


def compute_task_metrics(task: str, predictions: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """:func:`compute_metrics` for ``task``'s prediction frames: ``{"overall": ..., "by_data_source": ...}``."""
    block = _BLOCKS[task]
    overall = {name: block(frame) for name, frame in predictions.items()}
    sources = sorted({s for frame in predictions.values() for s in frame["data_source"].unique()})
    by_source = {
        source: {name: block(frame[frame["data_source"] == source]) for name, frame in predictions.items()}
        for source in sources
    }
    return {"overall": overall, "by_data_source": by_source}


def headline(task: str, block: Mapping[str, Any], prediction: str) -> dict[str, Any]:
    """The headline of a task: ``prediction`` and the :data:`HEADLINE_KEYS` figures of its ``block``."""
    return {"prediction": prediction, **{key: block[key] for key in HEADLINE_KEYS[task]}}


def task_sections(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``{task: {"overall": ..., "by_data_source": ...}}`` of a ``metrics.json`` of ``evaluate`` or ``baselines``.

    A file with ranking or like rows has them under ``by_task``; a rating-only file keeps the layout of earlier
    versions (``overall`` and ``by_data_source`` at the top), read here as its rating section.
    """
    if "by_task" in metrics:
        return dict(metrics["by_task"])
    return {"rating": metrics} if "by_data_source" in metrics else {}
