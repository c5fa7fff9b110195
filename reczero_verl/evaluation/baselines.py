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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl.evaluation import metrics as M
from reczero_verl.evaluation.data import (
    EvaluationInputError,
    first_few,
    load_interactions,
    load_targets,
    targets_fingerprint,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BASELINES",
    "BaselineSettings",
    "configure_parser",
    "main",
    "training_interactions",
    "fit_biases",
    "predict_all",
    "run_baselines",
]

BASELINES: tuple[str, ...] = ("global_mean", "user_mean", "item_mean", "biased", "mf")


@dataclass(frozen=True)
class BaselineSettings:
    """Hyper-parameters of the fitted baselines."""

    bias_reg: float = 3.0  #: L2 weight of the biases of ``biased``
    bias_iters: int = 20  #: alternating least-squares sweeps of ``biased``
    mf_factors: int = 10  #: latent dimension of ``mf``
    mf_epochs: int = 100  #: SGD epochs of ``mf``
    mf_lr: float = 0.01  #: SGD learning rate of ``mf``
    mf_reg: float = 0.05  #: L2 weight of ``mf`` (factors and biases)
    seed: int = 0  #: seed of ``mf``'s initialisation (Cornac then trains single-threaded: deterministic)
    use_mf: bool = True  #: fit ``mf`` (needs the ``cornac`` package)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``reczero-verl baselines``."""
    parser.add_argument("--train", required=True, nargs="+", help="prepared train parquet(s) (e.g. train and val)")
    parser.add_argument("--test", required=True, help="prepared test parquet: the targets to predict")
    parser.add_argument("--output", required=True, help="output folder (metrics.json, predictions.parquet, report.md)")
    parser.add_argument(
        "--train-on",
        choices=["visible", "targets"],
        default="visible",
        help="visible: train targets + all history entries of train and test rows (minus test targets); "
        "targets: train targets only",
    )
    defaults = BaselineSettings()
    parser.add_argument("--bias-reg", type=float, default=defaults.bias_reg, help="L2 weight of the biased baseline")
    parser.add_argument("--mf-factors", type=int, default=defaults.mf_factors, help="latent dimension of MF")
    parser.add_argument("--mf-epochs", type=int, default=defaults.mf_epochs, help="SGD epochs of MF")
    parser.add_argument("--mf-lr", type=float, default=defaults.mf_lr, help="SGD learning rate of MF")
    parser.add_argument("--mf-reg", type=float, default=defaults.mf_reg, help="L2 weight of MF")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of MF")
    parser.add_argument("--no-mf", action="store_true", help="skip the matrix-factorisation baseline")


def training_interactions(
    train_paths: Sequence[str | Path], test_path: str | Path, targets: pd.DataFrame, train_on: str = "visible"
) -> pd.DataFrame:
    """The interactions the baselines learn from (see the module docstring), one rating per (source, user, item)."""
    if train_on not in ("visible", "targets"):
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
    try:
        from cornac.data import Dataset
        from cornac.models import MF
    except ImportError as err:
        raise EvaluationInputError(
            "the `mf` baseline needs Cornac: `pip install cornac` (or run with --no-mf)"
        ) from err
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


def run_baselines(
    train_paths: Sequence[str | Path],
    test_path: str | Path,
    *,
    train_on: str = "visible",
    settings: BaselineSettings | None = None,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Fit every baseline per data source and score it on the test targets; returns (metrics, prediction frames)."""
    settings = settings or BaselineSettings()
    targets = load_targets(test_path)
    if targets.empty:
        raise EvaluationInputError(
            f"{test_path}: the test set is empty (0 rows); pass the test.parquet of a `reczero-verl prepare` run "
            "that wrote test targets (its stats.json says how many)"
        )
    if targets["user_id"].isna().any() or targets["item_id"].isna().any():
        bad = targets.loc[targets["user_id"].isna() | targets["item_id"].isna(), "index"]
        raise EvaluationInputError(f"{test_path}: rows without extra_info.user_id / item_id: {first_few(bad)}")
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
    frames = {}
    for name in names:
        frames[name] = pd.DataFrame(
            {
                "index": targets["index"],
                "data_source": targets["data_source"],
                "user_id": targets["user_id"],
                "item_id": targets["item_id"],
                "y": targets["rating"],
                "rating_min": targets["rating_min"],
                "rating_max": targets["rating_max"],
                "pred": np.clip(preds[name], targets["rating_min"], targets["rating_max"]),
                "parsed": True,
                "format_ok": np.nan,
            }
        )
    metrics = {
        "kind": "baselines",
        "train": [str(p) for p in train_paths],
        "test": str(test_path),
        "test_fingerprint": targets_fingerprint(targets),
        "train_on": train_on,
        "n_targets": int(len(targets)),
        "n_train_pairs": n_train,
        "unseen": unseen,
        "settings": asdict(settings),
        **M.compute_metrics(frames),
    }
    return M.json_safe(metrics), frames


def write_outputs(metrics: dict[str, Any], frames: dict[str, pd.DataFrame], output: Path) -> Path:
    """Publish ``metrics.json``, ``predictions.parquet``, ``plots/<source>_per_rating_mae.png`` and ``report.md`` as
    the folder ``output`` (staged, then swapped in whole: see :func:`~reczero_verl.evaluation.report.published_report`).
    """
    from reczero_verl.evaluation import report as R

    with R.published_report(output) as stage:
        _write_report(metrics, frames, stage)
    return output / "report.md"


def _write_report(metrics: dict[str, Any], frames: dict[str, pd.DataFrame], output: Path) -> None:
    from reczero_verl.evaluation import report as R

    plots = output / "plots"
    plots.mkdir()
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    first = next(iter(frames.values()))
    table = first[["index", "data_source", "user_id", "item_id", "y", "rating_min", "rating_max"]].copy()
    for name, frame in frames.items():
        table[f"{name}_pred"] = frame["pred"].to_numpy()
    table.to_parquet(output / "predictions.parquet", index=False)
    lines = [
        "# Classical baselines",
        "",
        f"Train: {', '.join(f'`{p}`' for p in metrics['train'])} (`--train-on {metrics['train_on']}`); "
        f"test: `{metrics['test']}`, {metrics['n_targets']} targets. Predictions are clipped to the rating scale; "
        "an unseen user or item falls back to the global mean (user/item mean) or a zero bias (biased, MF).",
    ]
    for source, blocks in metrics["by_data_source"].items():
        png = R.plot_per_rating_mae(
            {name: block["per_rating"] for name, block in blocks.items()},
            plots / f"{R.slug(source)}_per_rating_mae.png",
            f"Baselines: MAE per true rating on {source}",
        )
        seen = metrics["unseen"][source]
        lines += [
            "",
            f"## {source}",
            "",
            f"{metrics['n_train_pairs'][source]} training (user, item) pairs; unseen users in the test targets: "
            f"{seen['unseen_user_rate']:.1%}, unseen items: {seen['unseen_item_rate']:.1%}.",
            "",
            R.metrics_table(blocks),
            "",
            R.per_rating_table(blocks),
            "",
            R.image_links([png], output),
        ]
    (output / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(args: argparse.Namespace) -> int:
    """Run ``reczero-verl baselines``; returns 0. Bad input raises :class:`EvaluationInputError` (exit code 2)."""
    from reczero_verl.evaluation.report import check_report_dir

    check_report_dir(Path(args.output))
    settings = BaselineSettings(
        bias_reg=args.bias_reg,
        mf_factors=args.mf_factors,
        mf_epochs=args.mf_epochs,
        mf_lr=args.mf_lr,
        mf_reg=args.mf_reg,
        seed=args.seed,
        use_mf=not args.no_mf,
    )
    metrics, frames = run_baselines(args.train, args.test, train_on=args.train_on, settings=settings)
    report = write_outputs(metrics, frames, Path(args.output))
    for name, block in metrics["overall"].items():
        logger.info("baselines: %-12s MAE %.4f RMSE %.4f", name, block["mae"], block["rmse"])
    logger.info("baselines: report -> %s", report)
    return 0
