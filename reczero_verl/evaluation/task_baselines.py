# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Ranking and like baselines of ``reczero-verl baselines`` (issue 12): the same candidates and targets as the LLM.

Every baseline learns from *events*, the ``(source, user, item, timestamp)`` interactions of the train files and the
histories shown in the prompts (see :func:`~reczero_verl.evaluation.baselines.training_events`), never from a test
target. Ranking baselines score each candidate of a row; the target's position is its place among the candidates by
score, best first, ties broken by a seeded random order (so a constant score is a random ranking):

* ``random``: every candidate scores the same (the seeded tie order alone);
* ``popularity``: the number of events of the candidate strictly before the row's time (``t``);
* ``bpr``: Bayesian personalised ranking, Cornac's ``BPR`` (Apache-2.0) fitted on the (user, item) pairs of the
  events strictly before the source's earliest test target (one fit per source, nothing of the test period):
  ``b_i + p_u . q_i``; an unseen user scores by ``b_i`` alone, an unseen item below every seen one.

Like baselines predict a probability from the 0/1 labels of the like rows' events (the label of a train target, or
``rating >= like_threshold`` of a history entry), counted strictly before the row's time ``t``:

* ``random``: p uniform in [0, 1] (seeded);
* ``global_rate``: the share of liked events before ``t`` (0.5 when there is none);
* ``user_rate`` / ``item_rate``: the user's / item's share before ``t``, shrunk towards ``global_rate`` with a Beta
  prior of strength ``like_prior``: ``(liked + prior * global) / (n + prior)``.

Counting strictly before ``t`` (:func:`counts_before`) is what makes the time-aware baselines leak-free: an event at
or after a target's time, the target itself included, never counts for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from reczero_verl.options import (
    check_options,
    non_negative_float,
    non_negative_int,
    option,
    positive_float,
    positive_int,
)

__all__ = [
    "RANKING_BASELINES",
    "LIKE_BASELINES",
    "TaskBaselineSettings",
    "counts_before",
    "target_positions",
    "candidate_frame",
    "popularity_scores",
    "BprModel",
    "fit_bpr",
    "bpr_scores",
    "like_rates",
    "ranking_positions",
    "like_probabilities",
]

RANKING_BASELINES: tuple[str, ...] = ("random", "popularity", "bpr")
LIKE_BASELINES: tuple[str, ...] = ("random", "global_rate", "user_rate", "item_rate")


@dataclass(frozen=True)
class TaskBaselineSettings:
    """Hyper-parameters of the ranking and like baselines; a value out of range raises
    :class:`~reczero_verl.errors.BadInputError` naming its option."""

    # Cornac's defaults, but a learning rate ten times its 0.001 (which hardly moves the factors in 100 epochs).
    bpr_factors: int = option(rule=positive_int, default=10)  #: latent dimension of ``bpr``
    bpr_epochs: int = option(rule=positive_int, default=100)  #: SGD epochs of ``bpr`` (one sample per pair each)
    bpr_lr: float = option(rule=positive_float, default=0.01)  #: SGD learning rate of ``bpr``
    bpr_reg: float = option(rule=non_negative_float, default=0.01)  #: L2 weight of ``bpr``
    like_prior: float = option(rule=non_negative_float, default=5.0)  #: Beta prior strength of the like rates
    #: seed of the tie order, ``random`` and ``bpr`` (Cornac then trains single-threaded: deterministic)
    seed: int = option(rule=non_negative_int, default=0)
    use_bpr: bool = True  #: fit ``bpr``

    def __post_init__(self) -> None:
        check_options(self)


def _group_codes(*columns: Any) -> np.ndarray:
    """One integer code per distinct tuple of ``columns`` (equal tuples, equal codes)."""
    frame = pd.DataFrame({f"k{n}": np.asarray(c, dtype=object) for n, c in enumerate(columns)})
    return frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()


def counts_before(
    event_keys: pd.DataFrame,
    event_times: np.ndarray,
    query_keys: pd.DataFrame,
    query_times: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """For each query, the sum of ``weights`` (default 1) of the events with the same key and a time strictly earlier.

    ``event_keys`` and ``query_keys`` have the same columns (the key, e.g. ``data_source, item_id``). One sort of
    events and queries together, queries before events at an equal (key, time): O(n log n).
    """
    n_events = len(event_keys)
    if list(event_keys.columns) != list(query_keys.columns):
        raise ValueError("events and queries must have the same key columns")
    keys = pd.concat([event_keys, query_keys], ignore_index=True)
    codes = _group_codes(*(keys[c] for c in keys.columns))
    times = np.concatenate([np.asarray(event_times, dtype=np.int64), np.asarray(query_times, dtype=np.int64)])
    is_event = np.concatenate([np.ones(n_events, dtype=np.int8), np.zeros(len(query_keys), dtype=np.int8)])
    w = np.ones(n_events) if weights is None else np.asarray(weights, dtype=float)
    values = np.concatenate([w, np.zeros(len(query_keys))])
    order = np.lexsort((is_event, times, codes))
    running = np.cumsum(values[order])
    sorted_codes = codes[order]
    first = np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]
    base = np.where(first, running - values[order], np.nan)  # the running sum before each key's first element
    base = pd.Series(base).ffill().to_numpy()
    out = np.empty(len(codes))
    out[order] = running - base
    return out[n_events:]


def target_positions(rows: np.ndarray, scores: np.ndarray, is_target: np.ndarray, tie_keys: np.ndarray) -> np.ndarray:
    """The 1-based position of each row's target when its candidates are sorted by score, best first.

    ``rows`` (0..n-1), ``scores``, ``is_target`` (exactly one per row) and ``tie_keys`` are flat arrays with one entry
    per candidate. A candidate is ahead of the target when it scores more, or the same and has a smaller tie key; a
    NaN score counts as the lowest.
    """
    scores = np.where(np.isnan(scores), -np.inf, np.asarray(scores, dtype=float))
    n_rows = int(rows.max()) + 1 if len(rows) else 0
    if np.bincount(rows[is_target], minlength=n_rows).tolist() != [1] * n_rows:
        raise ValueError("every row needs exactly one target among its candidates")
    target_score = np.empty(n_rows)
    target_tie = np.empty(n_rows)
    target_score[rows[is_target]] = scores[is_target]
    target_tie[rows[is_target]] = tie_keys[is_target]
    s_t, u_t = target_score[rows], target_tie[rows]
    ahead = (scores > s_t) | ((scores == s_t) & (tie_keys < u_t))
    return 1 + np.bincount(rows, weights=ahead.astype(float), minlength=n_rows).astype(int)


def candidate_frame(targets: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate of the ranking ``targets``: ``row`` (position in ``targets``), ``data_source``,
    ``user_id``, ``timestamp``, ``item_id`` (the candidate) and ``is_target`` (its number is the row's truth)."""
    counts = targets["candidates"].map(len).to_numpy()
    rows = np.repeat(np.arange(len(targets)), counts)
    number = np.concatenate([np.arange(1, n + 1) for n in counts]) if len(targets) else np.array([], dtype=int)
    return pd.DataFrame(
        {
            "row": rows,
            "data_source": targets["data_source"].to_numpy()[rows],
            "user_id": targets["user_id"].to_numpy()[rows],
            "timestamp": targets["timestamp"].to_numpy(dtype=np.int64)[rows],
            "item_id": [item for items in targets["candidates"] for item in items],
            "is_target": number == targets["truth"].to_numpy(dtype=float)[rows],
        }
    )


def popularity_scores(events: pd.DataFrame, candidates: pd.DataFrame) -> np.ndarray:
    """The number of ``events`` of each candidate's item in its source strictly before its row's time."""
    key = ["data_source", "item_id"]
    return counts_before(events[key], events["timestamp"], candidates[key], candidates["timestamp"])


class BprModel(NamedTuple):
    """A fitted BPR model: the codes of its users and items, their factors and the item biases."""

    users: dict[str, int]
    items: dict[str, int]
    user_factors: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray


def fit_bpr(pairs: pd.DataFrame, settings: TaskBaselineSettings) -> BprModel:
    """Cornac's BPR on the distinct ``(user_id, item_id)`` ``pairs`` (implicit feedback: each pair is a positive)."""
    from cornac.data import Dataset
    from cornac.models import BPR

    pairs = pairs[["user_id", "item_id"]].drop_duplicates().sort_values(["user_id", "item_id"], kind="stable")
    triples = [(str(u), str(i), 1.0) for u, i in pairs.itertuples(index=False)]
    train_set = Dataset.from_uir(triples, seed=settings.seed)
    model = BPR(
        k=settings.bpr_factors,
        max_iter=settings.bpr_epochs,
        learning_rate=settings.bpr_lr,
        lambda_reg=settings.bpr_reg,
        use_bias=True,
        verbose=False,
        seed=settings.seed,
    )
    model.fit(train_set)
    return BprModel(
        dict(train_set.uid_map),
        dict(train_set.iid_map),
        np.asarray(model.u_factors, dtype=float),
        np.asarray(model.i_factors, dtype=float),
        np.asarray(model.i_biases, dtype=float),
    )


def bpr_scores(model: BprModel, users: Any, items: Any) -> np.ndarray:
    """``b_i + p_u . q_i`` of each (user, item); ``b_i`` for an unseen user; ``-inf`` for an unseen item."""
    u = np.array([model.users.get(str(x), -1) for x in users], dtype=int)
    i = np.array([model.items.get(str(x), -1) for x in items], dtype=int)
    out = np.full(len(u), -np.inf)
    seen_i = i >= 0
    out[seen_i] = model.item_bias[i[seen_i]]
    both = seen_i & (u >= 0)
    out[both] += np.einsum("ij,ij->i", model.user_factors[u[both]], model.item_factors[i[both]])
    return out


def like_rates(events: pd.DataFrame, targets: pd.DataFrame, prior: float) -> dict[str, np.ndarray]:
    """``global_rate``, ``user_rate`` and ``item_rate`` of each like target from the labelled ``events`` (``liked``
    0/1) of its source strictly before its time (see the module docstring)."""
    labelled = events[events["liked"].notna()]
    liked = labelled["liked"].to_numpy(dtype=float)
    t_events, t_targets = labelled["timestamp"], targets["timestamp"]

    def before(columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
        n = counts_before(labelled[columns], t_events, targets[columns], t_targets)
        k = counts_before(labelled[columns], t_events, targets[columns], t_targets, weights=liked)
        return n, k

    n_g, k_g = before(["data_source"])
    global_rate = np.where(n_g > 0, k_g / np.maximum(n_g, 1), 0.5)
    out = {"global_rate": global_rate}
    for name, column in (("user_rate", "user_id"), ("item_rate", "item_id")):
        n, k = before(["data_source", column])
        denominator = n + prior
        safe = np.where(denominator > 0, denominator, 1.0)
        out[name] = np.where(denominator > 0, (k + prior * global_rate) / safe, global_rate)
    return out


def _bpr_candidate_scores(
    events: pd.DataFrame, targets: pd.DataFrame, candidates: pd.DataFrame, settings: TaskBaselineSettings
) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """BPR scores of every candidate, one fit per source on the events before its earliest test target."""
    scores = np.full(len(candidates), -np.inf)
    info: dict[str, dict[str, Any]] = {}
    for source, rows in targets.groupby("data_source", sort=True):
        cutoff = int(rows["timestamp"].min())
        fit_on = events[(events["data_source"] == source) & (events["timestamp"] < cutoff)]
        mask = (candidates["data_source"] == source).to_numpy()
        info[source] = {"bpr_cutoff": cutoff, "bpr_pairs": int(len(fit_on[["user_id", "item_id"]].drop_duplicates()))}
        if fit_on.empty:
            continue  # nothing before the test period: every candidate unseen, a random ranking
        model = fit_bpr(fit_on, settings)
        part = candidates[mask]
        scores[mask] = bpr_scores(model, part["user_id"], part["item_id"])
        info[source]["bpr_unseen_user_rate"] = float(np.mean([str(u) not in model.users for u in rows["user_id"]]))
    return scores, info


def ranking_positions(
    events: pd.DataFrame, targets: pd.DataFrame, settings: TaskBaselineSettings
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """The target's position under every ranking baseline, for each of the ranking ``targets`` (in their order), and
    per source what the fits saw."""
    candidates = candidate_frame(targets)
    rows = candidates["row"].to_numpy()
    is_target = candidates["is_target"].to_numpy()
    tie_keys = np.random.default_rng([settings.seed, 0]).random(len(candidates))
    popularity = popularity_scores(events, candidates)
    scores = {"random": np.zeros(len(candidates)), "popularity": popularity}
    info: dict[str, dict[str, Any]] = {}
    if settings.use_bpr:
        scores["bpr"], info = _bpr_candidate_scores(events, targets, candidates, settings)
    for source in sorted(set(targets["data_source"])):
        mine = (candidates["data_source"] == source).to_numpy()
        info.setdefault(source, {})["unseen_target_rate"] = float(np.mean(popularity[mine & is_target] == 0))
    positions = {name: target_positions(rows, s, is_target, tie_keys) for name, s in scores.items()}
    return positions, info


def like_probabilities(
    events: pd.DataFrame, targets: pd.DataFrame, settings: TaskBaselineSettings
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """p under every like baseline, for each of the like ``targets`` (in their order), and per source the share of
    targets whose user / item has no labelled event before it."""
    probs = {"random": np.random.default_rng([settings.seed, 1]).random(len(targets))}
    probs.update(like_rates(events, targets, settings.like_prior))
    labelled = events[events["liked"].notna()]
    info: dict[str, dict[str, Any]] = {}
    for column, key in (("user_id", "unseen_user_rate"), ("item_id", "unseen_item_rate")):
        seen = counts_before(
            labelled[["data_source", column]],
            labelled["timestamp"],
            targets[["data_source", column]],
            targets["timestamp"],
        )
        for source in sorted(set(targets["data_source"])):
            mine = (targets["data_source"] == source).to_numpy()
            info.setdefault(source, {})[key] = float(np.mean(seen[mine] == 0))
    return probs, info
