# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl baselines``: classical rating predictors on exactly the LLM's test targets, with the same metrics.

Predictors (fitted separately for each ``data_source``, every prediction clipped to the row's rating scale):

* ``global_mean``: the mean training rating ``mu``;
* ``user_mean`` / ``item_mean``: the mean training rating of the target's user / item; ``mu`` when unseen;
* ``biased``: ``mu + b_u + b_i`` with L2-regularised biases fitted by alternating least squares (exact coordinate
  minimisation of ``sum (r - mu - b_u - b_i)^2 + reg * (sum b_u^2 + sum b_i^2)``); an unseen user or item has bias 0;
* ``mf``: biased matrix factorisation ``mu + b_u + b_i + p_u . q_i`` fitted by SGD with Cornac's ``MF`` model
  (Cornac, Apache-2.0, a maintained recommender library); the terms of an unseen user or item are dropped.

Training interactions (``--train-on``):

* ``visible`` (default): every interaction visible in the ``--train`` files (their targets and the entries of their
  ``user_history`` / ``item_history``) plus the history entries of the ``--test`` rows, minus any interaction that is
  itself a test target (same source, user, item and timestamp). The LLM sees exactly these histories in its prompts, so
  the baselines get the same evidence. Histories hold only interactions strictly earlier than their row's target, so
  no test rating is ever used to predict itself; one global model is fitted, so a test target may be predicted with
  the help of another test row's history entries that are later than it (a per-target refit would avoid that at
  thousands of times the cost).
* ``targets``: only the targets of the ``--train`` files (the classical protocol).

Interactions are de-duplicated on ``(source, user, item, timestamp, rating)`` (the same review appears in many rows'
histories); repeated ratings of the same (user, item) pair are then averaged into one, for every predictor.

Ranking and like rows (issue 12) get their own baselines on exactly the same candidates and targets (see
:mod:`reczero_verl.evaluation.task_baselines`): ``random``, ``popularity`` and Cornac's ``bpr`` for ranking;
``random``, ``global_rate``, ``user_rate`` and ``item_rate`` for like. They learn from the events of the same
``--train-on`` choice (:func:`training_events`), counted strictly before each target's time (BPR: fitted on what
precedes the source's earliest test target). A test file that mixes the tasks gets a section per task in
``metrics.json`` (``by_task``) and in the report; a rating-only one keeps the layout above.

``metrics.json`` records ``test_fingerprint`` (:func:`~reczero_verl.evaluation.data.targets_fingerprint` of the test
targets) and ``predictions.parquet`` the targets' users and items, so ``evaluate --baselines`` recognises the test set
and refuses baselines of another one. A rating outside its row's scale, an empty test set or a file that is not
parquet is refused with one message naming the file (exit code 2).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl.errors import EXIT_OK
from reczero_verl.evaluation import metrics as M
from reczero_verl.evaluation import task_baselines as T
from reczero_verl.evaluation.data import (
    EvaluationInputError,
    first_few,
    load_events,
    load_interactions,
    load_targets,
    target_tasks,
    targets_fingerprint,
)
from reczero_verl.evaluation.report import PublishedReport, check_report_dir
from reczero_verl.options import (
    add_option,
    add_output_dir,
    as_paths,
    check_options,
    from_args,
    non_negative_float,
    non_negative_int,
    option,
    positive_float,
    positive_int,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BASELINES",
    "BaselineSettings",
    "BaselinesConfig",
    "write_baselines_report",
    "configure_parser",
    "config_from_args",
    "main",
    "training_interactions",
    "training_events",
    "fit_biases",
    "predict_all",
    "run_baselines",
]

BASELINES: tuple[str, ...] = ("global_mean", "user_mean", "item_mean", "biased", "mf")
#: What the baselines learn from (``--train-on``; see the module docstring).
TRAIN_ON: tuple[str, ...] = ("visible", "targets")


@dataclass(frozen=True)
class BaselineSettings:
    """Hyper-parameters of the fitted baselines; a value out of range raises
    :class:`~reczero_verl.errors.BadInputError` naming its option."""

    bias_reg: float = option(rule=non_negative_float, default=3.0)  #: L2 weight of the biases of ``biased``
    bias_iters: int = option("bias_iters", positive_int, default=20)  #: alternating least-squares sweeps of ``biased``
    mf_factors: int = option(rule=positive_int, default=10)  #: latent dimension of ``mf``
    mf_epochs: int = option(rule=positive_int, default=100)  #: SGD epochs of ``mf``
    mf_lr: float = option(rule=positive_float, default=0.01)  #: SGD learning rate of ``mf``
    mf_reg: float = option(rule=non_negative_float, default=0.05)  #: L2 weight of ``mf`` (factors and biases)
    #: seed of ``mf``'s initialisation (Cornac then trains single-threaded: deterministic)
    seed: int = option(rule=non_negative_int, default=0)
    use_mf: bool = True  #: fit ``mf`` (needs the ``cornac`` package)

    def __post_init__(self) -> None:
        check_options(self)


@dataclass(frozen=True)
class BaselinesConfig:
    """What ``reczero-verl baselines`` takes (see :func:`configure_parser` for each option)."""

    train: tuple[Path, ...]
    test: Path
    output_dir: Path
    train_on: str = option(choices=TRAIN_ON, default="visible")
    settings: BaselineSettings = field(default_factory=BaselineSettings)
    task_settings: T.TaskBaselineSettings = field(default_factory=T.TaskBaselineSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "train", tuple(Path(p) for p in self.train))
        as_paths(self, "test", "output_dir")
        check_options(self)
        if not self.train:
            raise EvaluationInputError("--train needs at least one prepared parquet")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``reczero-verl baselines``."""
    add = partial(add_option, parser, BaselinesConfig)
    add("train", "prepared train parquet(s) (e.g. train and val)", nargs="+")
    add("test", "prepared test parquet: the targets to predict")
    add_output_dir(parser, "output folder (metrics.json, predictions.parquet, report.md)")
    add(
        "train_on",
        "visible: train targets + all history entries of train and test rows (minus test targets); "
        "targets: train targets only",
    )
    setting = partial(add_option, parser, BaselineSettings)
    setting("bias_reg", "L2 weight of the biased baseline; 0: unregularised biases")
    setting("mf_factors", "latent dimension of MF")
    setting("mf_epochs", "SGD epochs of MF")
    setting("mf_lr", "SGD learning rate of MF")
    setting("mf_reg", "L2 weight of MF; 0: unregularised")
    setting("seed", "seed of MF, BPR, the random baselines and the order of tied candidates")
    parser.add_argument("--no-mf", action="store_true", help="skip the matrix-factorisation baseline")
    task_setting = partial(add_option, parser, T.TaskBaselineSettings)
    task_setting("bpr_factors", "latent dimension of BPR (ranking)")
    task_setting("bpr_epochs", "SGD epochs of BPR")
    task_setting("bpr_lr", "SGD learning rate of BPR")
    task_setting("bpr_reg", "L2 weight of BPR; 0: unregularised")
    task_setting("like_prior", "Beta prior strength pulling the user/item like rates towards the global rate; 0: none")
    parser.add_argument("--no-bpr", action="store_true", help="skip the BPR ranking baseline")


def config_from_args(args: argparse.Namespace) -> BaselinesConfig:
    """The typed config of a parsed ``reczero-verl baselines`` command line."""
    return from_args(
        BaselinesConfig,
        args,
        settings=from_args(BaselineSettings, args, use_mf=not args.no_mf),
        task_settings=from_args(T.TaskBaselineSettings, args, use_bpr=not getattr(args, "no_bpr", False)),
    )


def training_interactions(
    train_paths: Sequence[str | Path], test_path: str | Path, targets: pd.DataFrame, train_on: str = "visible"
) -> pd.DataFrame:
    """The interactions the baselines learn from (see the module docstring), one rating per (source, user, item)."""
    if train_on not in TRAIN_ON:
        raise ValueError(f"unknown --train-on {train_on!r}")
    histories = train_on == "visible"
    parts = [load_interactions(p, include_targets=True, include_histories=histories) for p in train_paths]
    if histories:
        parts.append(load_interactions(test_path, include_targets=False, include_histories=True))
    seen = pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)
    key = ["data_source", "user_id", "item_id", "timestamp"]
    test_keys = targets[key].astype({"timestamp": "Int64"})
    is_test = seen[key].merge(test_keys.drop_duplicates(), how="left", on=key, indicator=True)["_merge"] == "both"
    if histories:
        seen = seen[~is_test.to_numpy()]
    elif is_test.any():
        raise EvaluationInputError(
            f"{int(is_test.sum())} test target(s) are also train targets (the split leaks): "
            f"{first_few(seen.loc[is_test.to_numpy(), key].itertuples(index=False, name=None))}"
        )
    return seen.groupby(["data_source", "user_id", "item_id"], as_index=False, sort=True)["rating"].mean()


def training_events(
    train_paths: Sequence[str | Path], test_path: str | Path, train_on: str = "visible"
) -> pd.DataFrame:
    """The events the ranking and like baselines learn from: ``data_source, user_id, item_id, timestamp, liked``.

    ``visible``: the targets and history entries of the train files and the history entries of the test file (never a
    test target as such: a history holds only interactions strictly before its row's target); ``targets``: the train
    targets only. Events without a timestamp cannot be placed before or after a target and are left out (logged).
    """
    if train_on not in TRAIN_ON:
        raise ValueError(f"unknown --train-on {train_on!r}")
    histories = train_on == "visible"
    parts = [load_events(p, include_targets=True, include_histories=histories) for p in train_paths]
    if histories:
        parts.append(load_events(test_path, include_targets=False, include_histories=True))
    events = pd.concat(parts, ignore_index=True)
    key = ["data_source", "user_id", "item_id", "timestamp"]
    events = events.groupby(key, sort=True, dropna=False, as_index=False)["liked"].first()
    untimed = events["timestamp"].isna()
    if untimed.any():
        n = int(untimed.sum())
        logger.warning("baselines: %d event(s) without a timestamp left out of the ranking/like baselines", n)
    events = events[~untimed].reset_index(drop=True)
    events["timestamp"] = events["timestamp"].astype(np.int64)
    return events


def fit_biases(
    users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int, reg: float, iters: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """``(mu, b_u, b_i)`` minimising ``sum (r - mu - b_u - b_i)^2 + reg (|b_u|^2 + |b_i|^2)`` by alternating LS.

    ``mu`` is the plain mean; each sweep sets every item bias, then every user bias, to its exact minimiser given the
    other (a ridge mean of the residuals), which never increases the objective.
    """
    mu = float(ratings.mean())
    b_u = np.zeros(n_users)
    b_i = np.zeros(n_items)
    n_u = np.bincount(users, minlength=n_users)
    n_i = np.bincount(items, minlength=n_items)
    for _ in range(iters):
        b_i = np.bincount(items, weights=ratings - mu - b_u[users], minlength=n_items) / (reg + n_i)
        b_u = np.bincount(users, weights=ratings - mu - b_i[items], minlength=n_users) / (reg + n_u)
    return mu, b_u, b_i


def _fit_mf(users: np.ndarray, items: np.ndarray, ratings: np.ndarray, settings: BaselineSettings):
    """Cornac's biased MF on integer-coded (user, item, rating) triples; returns the fitted model."""
    from cornac.data import Dataset
    from cornac.models import MF

    triples = list(zip(users.tolist(), items.tolist(), ratings.tolist(), strict=True))
    train_set = Dataset.from_uir(triples, seed=settings.seed)
    model = MF(
        k=settings.mf_factors,
        max_iter=settings.mf_epochs,
        learning_rate=settings.mf_lr,
        lambda_reg=settings.mf_reg,
        use_bias=True,
        early_stop=False,
        verbose=False,
        seed=settings.seed,
    )
    model.fit(train_set)
    return model, train_set


def _mf_predict(model: Any, train_set: Any, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``mu + b_u + b_i + p_u . q_i`` with the terms of unseen users / items (code -1) dropped."""
    pred = np.full(len(users), float(model.global_mean))
    u_idx = np.array([train_set.uid_map.get(u, -1) if u >= 0 else -1 for u in users.tolist()], dtype=int)
    i_idx = np.array([train_set.iid_map.get(i, -1) if i >= 0 else -1 for i in items.tolist()], dtype=int)
    known_u, known_i = u_idx >= 0, i_idx >= 0
    pred[known_u] += np.asarray(model.u_biases, dtype=float)[u_idx[known_u]]
    pred[known_i] += np.asarray(model.i_biases, dtype=float)[i_idx[known_i]]
    both = known_u & known_i
    u_f = np.asarray(model.u_factors, dtype=float)[u_idx[both]]
    i_f = np.asarray(model.i_factors, dtype=float)[i_idx[both]]
    pred[both] += np.einsum("ij,ij->i", u_f, i_f)
    return pred


def predict_all(
    train: pd.DataFrame, test: pd.DataFrame, settings: BaselineSettings
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Unclipped predictions of every baseline for ``test`` (one source), and the share of unseen users / items.

    ``train`` has ``user_id, item_id, rating`` (one row per pair); ``test`` has ``user_id, item_id``.
    """
    user_codes = {u: k for k, u in enumerate(pd.unique(train["user_id"]))}
    item_codes = {i: k for k, i in enumerate(pd.unique(train["item_id"]))}
    u = train["user_id"].map(user_codes).to_numpy(dtype=int)
    i = train["item_id"].map(item_codes).to_numpy(dtype=int)
    r = train["rating"].to_numpy(dtype=float)
    tu = test["user_id"].map(user_codes).fillna(-1).to_numpy(dtype=int)
    ti = test["item_id"].map(item_codes).fillna(-1).to_numpy(dtype=int)
    known_u, known_i = tu >= 0, ti >= 0
    mu = float(r.mean())
    user_mean = np.bincount(u, weights=r, minlength=len(user_codes)) / np.bincount(u, minlength=len(user_codes))
    item_mean = np.bincount(i, weights=r, minlength=len(item_codes)) / np.bincount(i, minlength=len(item_codes))
    _, b_u, b_i = fit_biases(u, i, r, len(user_codes), len(item_codes), settings.bias_reg, settings.bias_iters)
    preds = {
        "global_mean": np.full(len(test), mu),
        "user_mean": np.where(known_u, user_mean[np.where(known_u, tu, 0)], mu),
        "item_mean": np.where(known_i, item_mean[np.where(known_i, ti, 0)], mu),
        "biased": mu
        + np.where(known_u, b_u[np.where(known_u, tu, 0)], 0.0)
        + np.where(known_i, b_i[np.where(known_i, ti, 0)], 0.0),
    }
    if settings.use_mf:
        model, train_set = _fit_mf(u, i, r, settings)
        preds["mf"] = _mf_predict(model, train_set, tu, ti)
    coverage = {"unseen_user_rate": float(np.mean(~known_u)), "unseen_item_rate": float(np.mean(~known_i))}
    return preds, coverage


def _test_targets(test_path: str | Path) -> pd.DataFrame:
    """The targets of the test file; refuse an empty test set or targets without user / item ids."""
    targets = load_targets(test_path)
    if targets.empty:
        raise EvaluationInputError(
            f"{test_path}: the test set is empty (0 rows); pass the test.parquet of a `reczero-verl prepare` run "
            "that wrote test targets (its stats.json says how many)"
        )
    if targets["user_id"].isna().any() or targets["item_id"].isna().any():
        bad = targets.loc[targets["user_id"].isna() | targets["item_id"].isna(), "index"]
        raise EvaluationInputError(f"{test_path}: rows without extra_info.user_id / item_id: {first_few(bad)}")
    return targets


def _prediction_frame(targets: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
    """One baseline's predictions of ``targets``, clipped to each row's scale, in the metrics' prediction layout."""
    return pd.DataFrame(
        {
            "index": targets["index"],
            "data_source": targets["data_source"],
            "user_id": targets["user_id"],
            "item_id": targets["item_id"],
            "y": targets["rating"],
            "rating_min": targets["rating_min"],
            "rating_max": targets["rating_max"],
            "pred": np.clip(pred, targets["rating_min"], targets["rating_max"]),
            "parsed": True,
            "format_ok": np.nan,
        }
    )


def _rating_section(
    train_paths: Sequence[str | Path],
    test_path: str | Path,
    targets: pd.DataFrame,
    train_on: str,
    settings: BaselineSettings,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The rating baselines of the rating ``targets``: ``n_train_pairs``, ``unseen`` and the metric blocks."""
    train = training_interactions(train_paths, test_path, targets, train_on)
    names = [n for n in BASELINES if n != "mf" or settings.use_mf]
    preds = {name: np.full(len(targets), np.nan) for name in names}
    unseen: dict[str, dict[str, float]] = {}
    n_train: dict[str, int] = {}
    for source, rows in targets.groupby("data_source", sort=True):
        source_train = train[train["data_source"] == source]
        if source_train.empty:
            raise EvaluationInputError(f"no training interactions for data_source {source!r} of {test_path}")
        source_preds, unseen[source] = predict_all(source_train, rows, settings)
        n_train[source] = int(len(source_train))
        for name in names:
            preds[name][rows.index.to_numpy()] = source_preds[name]
    frames = {name: _prediction_frame(targets, preds[name]) for name in names}
    return {"n_train_pairs": n_train, "unseen": unseen, **M.compute_metrics(frames)}, frames


def _task_targets(targets: pd.DataFrame, task: str, test_path: str | Path) -> pd.DataFrame:
    """The ``task`` rows of ``targets`` (positions reset); refuse a ranking or like row without a timestamp (their
    baselines count what precedes it)."""
    rows = targets[targets["task"] == task].reset_index(drop=True)
    untimed = rows["timestamp"].isna()
    if task != "rating" and untimed.any():
        raise EvaluationInputError(
            f"{test_path}: {task} row(s) without extra_info.timestamp (the baselines count only what precedes a "
            f"target): extra_info.index {first_few(rows.loc[untimed, 'index'])}"
        )
    return rows


def _task_frame(task: str, targets: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    """One ranking or like baseline's predictions of ``targets`` in the metrics' frame layout (always parsed)."""
    identity = ["index", "data_source", "user_id", "item_id", "rating_min", "rating_max"]
    frame = targets[identity].assign(y=targets["truth"].astype(float))
    if task == "ranking":
        frame["candidates"] = targets["candidates"].map(list)
        frame["n_candidates"] = targets["n_candidates"].astype(int)
        frame["position"] = values.astype(int)
        frame["listed"] = True
    else:
        frame["like_threshold"] = targets["like_threshold"].astype(float)
        frame["prob"] = values.astype(float)
    frame["parsed"] = True
    frame["format_ok"] = np.nan
    if targets["history_length"].notna().all():
        frame["history_length"] = targets["history_length"].astype(int)
    return frame


def _task_section(
    task: str, events: pd.DataFrame, targets: pd.DataFrame, settings: T.TaskBaselineSettings
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The ranking or like baselines of ``targets`` (that task's rows): what each source's fit saw and the metric
    blocks."""
    sources = sorted(set(targets["data_source"]))
    mine = events[events["data_source"].isin(sources)]
    if task == "ranking":
        values, fits = T.ranking_positions(mine, targets, settings)
        n_events = {s: int((mine["data_source"] == s).sum()) for s in sources}
    else:
        values, fits = T.like_probabilities(mine, targets, settings)
        n_events = {s: int(((mine["data_source"] == s) & mine["liked"].notna()).sum()) for s in sources}
    for source, n in n_events.items():
        if n == 0:
            raise EvaluationInputError(
                f"no training events for data_source {source!r}: pass the --train file(s) of the same `prepare` run "
                f"and task ({task})"
            )
    frames = {name: _task_frame(task, targets, v) for name, v in values.items()}
    section = {"n_targets": int(len(targets)), "n_events": n_events, "fits": fits}
    return {**section, **M.compute_task_metrics(task, frames)}, frames


def run_baselines(
    train_paths: Sequence[str | Path],
    test_path: str | Path,
    *,
    train_on: str = "visible",
    settings: BaselineSettings | None = None,
    task_settings: T.TaskBaselineSettings | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, pd.DataFrame]]]:
    """Fit every baseline per data source and score it on the test targets; returns (metrics, prediction frames by
    task). A rating-only test file keeps the metrics layout of earlier versions; one with ranking or like rows has a
    section per task under ``by_task``."""
    settings = settings or BaselineSettings()
    task_settings = task_settings or T.TaskBaselineSettings()
    targets = _test_targets(test_path)
    tasks = target_tasks(targets)
    head = {
        "kind": "baselines",
        "train": [str(p) for p in train_paths],
        "test": str(test_path),
        "test_fingerprint": targets_fingerprint(targets),
        "train_on": train_on,
        "n_targets": int(len(targets)),
    }
    if tasks == ["rating"]:
        section, frames = _rating_section(train_paths, test_path, targets, train_on, settings)
        metrics = {**head, "n_train_pairs": section.pop("n_train_pairs"), "unseen": section.pop("unseen")}
        metrics.update(settings=asdict(settings), **section)
        return M.json_safe(metrics), {"rating": frames}
    by_task: dict[str, Any] = {}
    frames_by_task: dict[str, dict[str, pd.DataFrame]] = {}
    rows_by_task = {task: _task_targets(targets, task, test_path) for task in tasks}
    events = training_events(train_paths, test_path, train_on) if set(tasks) - {"rating"} else None
    for task, rows in rows_by_task.items():
        if task == "rating":
            section, frames = _rating_section(train_paths, test_path, rows, train_on, settings)
            section = {"n_targets": int(len(rows)), **section}
        else:
            section, frames = _task_section(task, events, rows, task_settings)
        by_task[task], frames_by_task[task] = section, frames
    metrics = {
        **head,
        "tasks": tasks,
        "settings": asdict(settings),
        "task_settings": asdict(task_settings),
        "by_task": by_task,
    }
    return M.json_safe(metrics), frames_by_task


def write_outputs(metrics: dict[str, Any], frames: dict[str, dict[str, pd.DataFrame]], output: Path) -> Path:
    """Publish ``metrics.json``, ``predictions.parquet``, ``plots/*.png`` and ``report.md`` as the folder ``output``
    (staged, then swapped in whole: see :func:`~reczero_verl.evaluation.report.published_report`)."""
    from reczero_verl.evaluation import report as R

    with R.published_report(output) as stage:
        (stage / "plots").mkdir()
        (stage / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        if "by_task" in metrics:
            _task_table(frames).to_parquet(stage / "predictions.parquet", index=False)
            _write_task_report(metrics, stage)
        else:
            _rating_table(frames["rating"]).to_parquet(stage / "predictions.parquet", index=False)
            _write_report(metrics, frames["rating"], stage)
    return output / "report.md"


def _rating_table(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``predictions.parquet`` of rating targets: their identity and ``<name>_pred`` of every baseline."""
    first = next(iter(frames.values()))
    table = first[["index", "data_source", "user_id", "item_id", "y", "rating_min", "rating_max"]].copy()
    for name, frame in frames.items():
        table[f"{name}_pred"] = frame["pred"].to_numpy()
    return table


#: The column of a prediction frame holding each task's answer, as ``<name>_<answer>`` in ``predictions.parquet``.
_ANSWER = {"rating": "pred", "ranking": "position", "like": "prob"}
_IDENTITY = ["index", "data_source", "task", "user_id", "item_id", "y", "rating_min", "rating_max"]


def _task_table(frames: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """``predictions.parquet`` of a test file with ranking or like rows: one row per target with its identity (the
    candidates of ranking rows, the like threshold of like rows) and each of its task's baselines' answers."""
    parts = []
    for task, named in frames.items():
        first = next(iter(named.values()))
        extra = {"ranking": ["candidates"], "like": ["like_threshold"]}.get(task, [])
        table = first.assign(task=task)[[*_IDENTITY, *extra]].reset_index(drop=True)
        for name, frame in named.items():
            table[f"{name}_{_ANSWER[task]}"] = frame[_ANSWER[task]].to_numpy()
        parts.append(table)
    return pd.concat(parts, ignore_index=True).sort_values("index", kind="stable").reset_index(drop=True)


def _intro(metrics: dict[str, Any]) -> str:
    return (
        f"Train: {', '.join(f'`{p}`' for p in metrics['train'])} (`--train-on {metrics['train_on']}`); "
        f"test: `{metrics['test']}`, {metrics['n_targets']} targets."
    )


_RATING_NOTE = (
    "Predictions are clipped to the rating scale; an unseen user or item falls back to the global mean (user/item "
    "mean) or a zero bias (biased, MF)."
)


def _rating_lines(section: dict[str, Any], output: Path, level: str) -> list[str]:
    """The report lines of the rating baselines: one part per source, its tables and its per-rating plot."""
    from reczero_verl.evaluation import report as R

    lines: list[str] = []
    for source, blocks in section["by_data_source"].items():
        png = R.plot_per_rating_mae(
            {name: block["per_rating"] for name, block in blocks.items()},
            output / "plots" / f"{R.slug(source)}_per_rating_mae.png",
            f"Baselines: MAE per true rating on {source}",
        )
        seen = section["unseen"][source]
        lines += [
            "",
            f"{level} {source}",
            "",
            f"{section['n_train_pairs'][source]} training (user, item) pairs; unseen users in the test targets: "
            f"{seen['unseen_user_rate']:.1%}, unseen items: {seen['unseen_item_rate']:.1%}.",
            "",
            R.metrics_table(blocks),
            "",
            R.per_rating_table(blocks),
            "",
            R.image_links([png], output),
        ]
    return lines


def _write_report(metrics: dict[str, Any], frames: dict[str, pd.DataFrame], output: Path) -> None:
    """``report.md`` of a rating-only test file (the layout of earlier versions)."""
    lines = ["# Classical baselines", "", f"{_intro(metrics)} {_RATING_NOTE}"]
    lines += _rating_lines(metrics, output, "##")
    (output / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


#: What each task's baselines are, stated once at the top of its part of the report.
_TASK_NOTES = {
    "ranking": (
        "Each baseline scores every candidate of a row; the target's position is its place by score, ties broken in a "
        "seeded random order. `random`: all candidates tied; `popularity`: the candidate's events strictly before "
        "the row's time; `bpr`: Cornac's BPR fitted on the (user, item) pairs before the source's earliest test "
        "target (an unseen user scores by item bias, an unseen item below every seen one)."
    ),
    "like": (
        "Like labels of the events strictly before each target's time. `random`: p uniform in [0, 1]; "
        "`global_rate`: the share of liked events; `user_rate` / `item_rate`: the user's / item's share shrunk "
        "towards the global rate (Beta prior of strength `--like-prior`)."
    ),
}


def _fit_line(task: str, section: dict[str, Any], source: str) -> str:
    """What the baselines of ``source`` learnt from, in one sentence."""
    fit = section["fits"].get(source, {})
    n = section["n_events"][source]
    if task == "like":
        return (
            f"{n} labelled events; targets whose user has no labelled event before them: "
            f"{fit['unseen_user_rate']:.1%}, whose item has none: {fit['unseen_item_rate']:.1%}."
        )
    line = f"{n} events; targets with no event before their time (popularity 0): {fit['unseen_target_rate']:.1%}."
    if "bpr_cutoff" in fit:
        line += f" BPR: {fit['bpr_pairs']} (user, item) pairs before time {fit['bpr_cutoff']}"
        unseen = fit.get("bpr_unseen_user_rate")
        line += f", test users it never saw: {unseen:.1%}." if unseen is not None else " (none: a random ranking)."
    return line


def _task_lines(task: str, section: dict[str, Any], output: Path) -> list[str]:
    """The report lines of the ranking or like baselines: one part per source, its table and plots."""
    from reczero_verl.evaluation import report as R

    lines: list[str] = ["", _TASK_NOTES[task]]
    key = "ndcg@10" if task == "ranking" else "auc"
    table = R.ranking_table if task == "ranking" else R.like_table
    for source, blocks in section["by_data_source"].items():
        stem = output / "plots" / R.slug(source)
        pngs = []
        if task == "like":
            pngs.append(R.plot_reliability(blocks, stem.with_name(f"{stem.name}_reliability.png"), f"On {source}"))
        by_history = R.plot_by_history(
            blocks, key, stem.with_name(f"{stem.name}_{key.split('@')[0]}_by_history.png"), f"{key.upper()} on {source}"
        )
        pngs += [by_history] if by_history is not None else []
        lines += ["", f"### {source}", "", _fit_line(task, section, source), "", table(blocks)]
        history = R.history_table(blocks, key)
        if history:
            lines += ["", f"{key.upper()} by the length of the user's history in the prompt:", "", history]
        if pngs:
            lines += ["", R.image_links(pngs, output)]
    return lines


def _write_task_report(metrics: dict[str, Any], output: Path) -> None:
    """``report.md`` of a test file with ranking or like rows: one part per task, one section per data source."""
    counts = ", ".join(f"{metrics['by_task'][task]['n_targets']} {task}" for task in metrics["tasks"])
    lines = ["# Classical baselines", "", f"{_intro(metrics)[:-1]} ({counts})."]
    for task in metrics["tasks"]:
        section = metrics["by_task"][task]
        lines += ["", f"## {task.capitalize()}"]
        if task == "rating":
            lines += ["", _RATING_NOTE, *_rating_lines(section, output, "###")]
        else:
            lines += _task_lines(task, section, output)
    (output / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_baselines_report(config: BaselinesConfig) -> PublishedReport:
    """Fit and score the baselines of ``config`` and publish the report folder ``config.output_dir``.

    Bad input raises :class:`EvaluationInputError` before the folder is touched.
    """
    check_report_dir(config.output_dir)
    metrics, frames = run_baselines(
        config.train,
        config.test,
        train_on=config.train_on,
        settings=config.settings,
        task_settings=config.task_settings,
    )
    return PublishedReport(metrics=metrics, report=write_outputs(metrics, frames, config.output_dir))


def main(args: argparse.Namespace) -> int:
    """Run ``reczero-verl baselines``; returns 0. Bad input raises :class:`EvaluationInputError` (exit code 2)."""
    from reczero_verl.evaluation.report import headline_text

    result = write_baselines_report(config_from_args(args))
    for task, section in M.task_sections(result.metrics).items():
        for name, block in section["overall"].items():
            if task == "rating":
                logger.info("baselines: %-12s MAE %.4f RMSE %.4f", name, block["mae"], block["rmse"])
            else:
                text = headline_text(task, M.headline(task, block, name)).split(": ", 1)[1]
                logger.info("baselines: %s %-12s %s", task, name, text)
    logger.info("baselines: report -> %s", result.report)
    return EXIT_OK
