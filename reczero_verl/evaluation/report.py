# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Markdown report and PNG plots of evaluation metrics (matplotlib, headless Agg backend).

Plots, one set per ``data_source`` (each on its own rating scale):

* ``confusion``: true rating (rows) against the prediction rounded to the nearest scale point (columns) plus an
  ``unparsed`` column; cells show the share of the row, annotated with counts;
* ``errors``: histogram of the signed error ``pred - y`` of parsed predictions, with the unparsed count beside it;
* ``per_rating_mae``: MAE per true rating for the model and every baseline, side by side (unparsed at max error);
* ranking: ``positions`` (where the answers put the target, with the unlisted and unparsed ones apart) and
  ``ndcg_by_history`` (NDCG@10 per band of the user's history length, model and baselines side by side);
* like: ``reliability`` (observed like rate against predicted p per bin, model and baselines, over a histogram of p)
  and ``auc_by_history``.

The ranking and like plots and tables are drawn from metric blocks, so the baselines of a ``metrics.json`` are drawn
the same way as the model.

A report folder is published as one unit (:func:`published_report`): written into a staging folder beside it, then
swapped in, so it never mixes the files (e.g. plots of another data source) of an older report with a new one.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl import durable
from reczero_verl.evaluation.data import EvaluationInputError, first_few
from reczero_verl.evaluation.metrics import errors, rating_groups

logger = logging.getLogger(__name__)

__all__ = [
    "REPORT_NAMES",
    "PublishedReport",
    "slug",
    "check_report_dir",
    "published_report",
    "plot_confusion",
    "plot_errors",
    "plot_per_rating_mae",
    "metrics_table",
    "per_rating_table",
    "image_links",
    "fmt",
    "FIGURE_LABELS",
    "headline_text",
    "ranking_table",
    "like_table",
    "history_table",
    "plot_by_history",
    "plot_positions",
    "plot_reliability",
]

#: What a report folder of ``evaluate`` or ``baselines`` holds; anything else in it is not ours to replace.
REPORT_NAMES: frozenset[str] = frozenset({"metrics.json", "predictions.parquet", "report.md", "plots"})
_STAGING = "report"  # staging folders: .<output>.report-*


@dataclass(frozen=True)
class PublishedReport:
    """A report folder written by ``evaluate`` or ``baselines``: its metrics (those of ``metrics.json``) and the path
    of its ``report.md``."""

    metrics: dict[str, Any]
    report: Path


def check_report_dir(output: Path, owned: Collection[str] = REPORT_NAMES) -> None:
    """Refuse an ``--output-dir`` that cannot take a report, before any work: a file, a folder under a file, a folder
    holding files that are not part of a report (replacing it would delete them), or a parent that is not
    writable. Creates the parent folder."""
    if output.exists() and not output.is_dir():
        raise EvaluationInputError(f"--output-dir {output} is a file, not a folder; choose a folder for the report")
    if output.is_dir():
        foreign = sorted(p.name for p in output.iterdir() if p.name not in owned)
        if foreign:
            raise EvaluationInputError(
                f"--output-dir {output} holds files that are not part of a report ({first_few(foreign)}); "
                "choose a new or empty folder (a report replaces its whole folder)"
            )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise EvaluationInputError(f"--output-dir {output}: a parent of it is a file; choose another folder") from None
    except OSError as err:
        raise EvaluationInputError(f"--output-dir {output}: cannot create its parent folder ({err.strerror})") from None
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise EvaluationInputError(f"--output-dir {output}: its folder {output.parent} is not writable")


@contextmanager
def published_report(output: Path, owned: Collection[str] = REPORT_NAMES) -> Iterator[Path]:
    """Yield an empty staging folder; when the block succeeds, it replaces ``output`` whole (kept as is on failure;
    see :func:`reczero_verl.durable.staged_folder`)."""
    check_report_dir(output, owned)
    try:
        stage = durable.start_staging(output, _STAGING)
    except OSError as err:
        raise EvaluationInputError(f"--output-dir {output}: cannot stage the report ({err.strerror or err})") from err
    try:
        yield stage.path
        try:
            stage.publish()
        except OSError as err:
            raise EvaluationInputError(
                f"--output-dir {output}: could not publish the report ({err.strerror or err})"
            ) from err
    finally:
        stage.close()
    logger.debug("report published to %s", output)


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (``reczero/amazon_fashion`` -> ``reczero_amazon_fashion``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "data"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _scale_points(lo: float, hi: float) -> list[int]:
    return list(range(int(np.ceil(lo)), int(np.floor(hi)) + 1))


def plot_confusion(frame: pd.DataFrame, path: Path, title: str) -> Path:
    """Heat map of true rating vs rounded prediction of one prediction frame (one scale)."""
    plt = _pyplot()
    lo, hi = float(frame["rating_min"].min()), float(frame["rating_max"].max())
    columns = [str(p) for p in _scale_points(lo, hi)] + ["unparsed"]
    y = rating_groups(frame["y"].to_numpy(dtype=float))
    rows = sorted(np.unique(y))
    parsed = frame["parsed"].to_numpy(dtype=bool)
    pred = frame["pred"].to_numpy(dtype=float)
    rounded = np.where(parsed, np.clip(np.floor(np.where(parsed, pred, lo) + 0.5), np.ceil(lo), np.floor(hi)), np.nan)
    counts = np.zeros((len(rows), len(columns)), dtype=int)
    for r, value in enumerate(rows):
        mask = y == value
        for c, point in enumerate(_scale_points(lo, hi)):
            counts[r, c] = int(np.sum(mask & parsed & (rounded == point)))
        counts[r, -1] = int(np.sum(mask & ~parsed))
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(columns), max(2.8, 1.2 + 0.6 * len(rows))))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for r in range(len(rows)):
        for c in range(len(columns)):
            if counts[r, c]:
                colour = "white" if share[r, c] > 0.5 else "black"
                ax.text(
                    c, r, f"{share[r, c]:.0%}\n({counts[r, c]})", ha="center", va="center", fontsize=8, color=colour
                )
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), [f"{v:g} (n={int(np.sum(y == v))})" for v in rows])
    ax.set_xlabel("predicted rating (rounded)")
    ax.set_ylabel("true rating")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="share of the row")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_errors(frame: pd.DataFrame, path: Path, title: str) -> Path:
    """Histogram of signed errors of parsed predictions, plus a bar counting the unparsed ones."""
    plt = _pyplot()
    parsed = frame["parsed"].to_numpy(dtype=bool)
    signed = (frame["pred"].to_numpy(dtype=float) - frame["y"].to_numpy(dtype=float))[parsed]
    max_error = float((frame["rating_max"] - frame["rating_min"]).max())
    n_unparsed = int((~parsed).sum())
    fig, (ax, ax_u) = plt.subplots(1, 2, figsize=(8, 3.6), gridspec_kw={"width_ratios": [6, 1]}, sharey=True)
    bins = np.arange(-max_error - 0.125, max_error + 0.25, 0.25)
    ax.hist(signed, bins=bins, color="tab:blue", edgecolor="white")
    ax.axvline(0.0, color="black", linewidth=0.8)
    mae = float(np.mean(errors(frame)))
    ax.set_xlabel("prediction - true rating (parsed answers)")
    ax.set_ylabel("count")
    ax.set_title(f"{title}\nMAE {mae:.3f} (unparsed at max error {max_error:g})", fontsize=10)
    ax_u.bar([0], [n_unparsed], color="tab:red")
    ax_u.set_xticks([0], ["unparsed"])
    ax_u.text(0, n_unparsed, str(n_unparsed), ha="center", va="bottom")
    ax.set_ylim(0, 1.15 * max(ax.get_ylim()[1], n_unparsed, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_per_rating_mae(per_rating: Mapping[str, Mapping[str, Mapping[str, Any]]], path: Path, title: str) -> Path:
    """Grouped bars: MAE per true rating (x) for each model (one colour each, legend on the right).

    ``per_rating`` maps a model name to its ``per_rating`` block (``{rating label: {"n", "mae", ...}}``).
    """
    plt = _pyplot()
    labels = sorted({r for block in per_rating.values() for r in block}, key=float)
    names = list(per_rating)
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 + 0.22 * len(labels) * (len(names) + 1)), 3.6))
    x = np.arange(len(labels))
    for k, name in enumerate(names):
        values = [per_rating[name].get(label, {}).get("mae", np.nan) for label in labels]
        ax.bar(x - 0.4 + width * (k + 0.5), values, width=width, label=name)
    counts = {label: next(b[label]["n"] for b in per_rating.values() if label in b) for label in labels}
    ax.set_xticks(x, [f"{label}\n(n={counts[label]})" for label in labels])
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_xlabel("true rating")
    ax.set_ylabel("MAE (unparsed at max error)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def fmt(value: Any, digits: int = 4) -> str:
    """A figure of a table: ``n/a`` for None, ``digits`` decimals for a float."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


#: A table column: its header, the metric block's key and the decimals shown (``None``: as is).
Column = tuple[str, str, int | None]

RATING_COLUMNS: tuple[Column, ...] = (
    ("n", "n", None),
    ("MAE", "mae", 4),
    ("RMSE", "rmse", 4),
    ("coverage", "coverage", 3),
    ("MAE (parsed)", "mae_parsed", 4),
    ("RMSE (parsed)", "rmse_parsed", 4),
    ("format OK", "format_ok_rate", 3),
    ("MAE / max error", "mae_normalized", 4),
)
RANKING_COLUMNS: tuple[Column, ...] = (
    ("n", "n", None),
    ("HR@1", "hr@1", 4),
    ("HR@5", "hr@5", 4),
    ("HR@10", "hr@10", 4),
    ("NDCG@5", "ndcg@5", 4),
    ("NDCG@10", "ndcg@10", 4),
    ("MRR", "mrr", 4),
    ("mean position", "mean_position", 2),
    ("coverage", "coverage", 3),
    ("target listed", "listed_rate", 3),
    ("format OK", "format_ok_rate", 3),
)
LIKE_COLUMNS: tuple[Column, ...] = (
    ("n", "n", None),
    ("AUC", "auc", 4),
    ("LogLoss", "logloss", 4),
    ("Brier", "brier", 4),
    ("accuracy", "accuracy", 3),
    ("ECE", "ece", 4),
    ("coverage", "coverage", 3),
    ("unparsed (p = 0.5)", "n_unparsed", None),
    ("AUC (parsed)", "auc_parsed", 4),
    ("format OK", "format_ok_rate", 3),
)


def blocks_table(blocks: Mapping[str, Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Markdown table: one row per prediction (model or baseline), one column per metric of ``columns``."""
    lines = [
        "| prediction | " + " | ".join(header for header, _, _ in columns) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for name, b in blocks.items():
        cells = [str(b[key]) if digits is None else fmt(b[key], digits) for _, key, digits in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metrics_table(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """The rating table: MAE, RMSE (headline, unparsed at max error) and the secondary metrics."""
    return blocks_table(blocks, RATING_COLUMNS)


def per_rating_table(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table: MAE per true rating (columns) for each prediction (rows)."""
    labels = sorted({r for b in blocks.values() for r in b["per_rating"]}, key=float)
    counts = {
        label: next(b["per_rating"][label]["n"] for b in blocks.values() if label in b["per_rating"])
        for label in labels
    }
    lines = [
        "| prediction | " + " | ".join(f"{label} (n={counts[label]})" for label in labels) + " |",
        "|" + "---|" * (len(labels) + 1),
    ]
    for name, b in blocks.items():
        cells = [fmt(b["per_rating"].get(label, {}).get("mae"), 3) for label in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def image_links(paths: Sequence[Path], base: Path) -> str:
    """Markdown image links to ``paths``, relative to the report folder ``base``."""
    return "\n\n".join(f"![{p.stem}]({p.relative_to(base).as_posix()})" for p in paths)


#: How a report names the figures of a headline.
FIGURE_LABELS: dict[str, str] = {
    "mae": "MAE",
    "rmse": "RMSE",
    "ndcg@10": "NDCG@10",
    "hr@10": "HR@10",
    "mrr": "MRR",
    "auc": "AUC",
    "logloss": "LogLoss",
}


def headline_text(task: str, head: Mapping[str, Any]) -> str:
    """``"ranking: NDCG@10 0.4123, HR@10 0.7000, MRR 0.3012"``: a task's headline figures in words."""
    figures = ", ".join(
        f"{FIGURE_LABELS.get(key, key)} {fmt(value)}" for key, value in head.items() if key != "prediction"
    )
    return f"{task}: {figures}"


# ---------------------------------------------------------------------------------------------------------------------
# Ranking and like: tables and plots drawn from metric blocks (so the baselines of a metrics.json are drawn alike)


def ranking_table(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """The ranking table: HR@K, NDCG@K, MRR, mean position and coverage."""
    return blocks_table(blocks, RANKING_COLUMNS)


def like_table(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """The like table: AUC, LogLoss, Brier, accuracy, ECE and the unparsed count."""
    return blocks_table(blocks, LIKE_COLUMNS)


def _history(block: Mapping[str, Any]) -> Mapping[str, Any]:
    return block.get("by_history_length") or {}


def _bands(blocks: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, int]]:
    """The history bands any block has, in band order, with their row counts."""
    from reczero_verl.evaluation.metrics import HISTORY_BANDS

    out = []
    for label, _, _ in HISTORY_BANDS:
        counts = [
            b["by_history_length"][label]["n"] for b in blocks.values() if label in b.get("by_history_length", {})
        ]
        if counts:
            out.append((label, counts[0]))
    return out


def history_table(blocks: Mapping[str, Mapping[str, Any]], key: str) -> str:
    """Markdown table: figure ``key`` per band of the user's history length (columns) for each prediction (rows);
    empty when no block knows the history lengths."""
    bands = _bands(blocks)
    if not bands:
        return ""
    lines = [
        "| prediction | " + " | ".join(f"{label} (n={n})" for label, n in bands) + " |",
        "|" + "---|" * (len(bands) + 1),
    ]
    for name, b in blocks.items():
        cells = [fmt(b.get("by_history_length", {}).get(label, {}).get(key), 3) for label, _ in bands]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_by_history(blocks: Mapping[str, Mapping[str, Any]], key: str, path: Path, title: str) -> Path | None:
    """Grouped bars: figure ``key`` (e.g. ``ndcg@10``) per band of the user's history length for each prediction;
    None (no file) when no block knows the history lengths."""
    bands = _bands(blocks)
    if not bands:
        return None
    plt = _pyplot()
    names = list(blocks)
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 + 0.25 * len(bands) * (len(names) + 1)), 3.6))
    x = np.arange(len(bands))
    for k, name in enumerate(names):
        by_band = blocks[name].get("by_history_length", {})
        values = [by_band.get(label, {}).get(key) for label, _ in bands]
        ax.bar(x - 0.4 + width * (k + 0.5), [np.nan if v is None else v for v in values], width=width, label=name)
    ax.set_xticks(x, [f"{label}\n(n={n})" for label, n in bands])
    ax.set_xlabel("length of the user's history shown in the prompt")
    ax.set_ylabel(key.upper())
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_positions(frame: pd.DataFrame, path: Path, title: str) -> Path:
    """Histogram of the target's position in the answers of one ranking frame (1..M), with bars for a target the
    answer does not list and for an answer that did not parse (both ranked last in the metrics)."""
    plt = _pyplot()
    parsed = frame["parsed"].to_numpy(dtype=bool)
    listed = frame["listed"].to_numpy(dtype=bool)
    position = frame["position"].to_numpy(dtype=float)
    m = int(np.nanmax(frame["n_candidates"].to_numpy(dtype=float)))
    counts = [int(np.sum(listed & (position == k))) for k in range(1, m + 1)]
    fig, (ax, ax_u) = plt.subplots(1, 2, figsize=(8, 3.6), gridspec_kw={"width_ratios": [6, 1.4]}, sharey=True)
    ax.bar(range(1, m + 1), counts, color="tab:blue")
    ax.set_xlabel("position of the target in the answer (1 = ranked first)")
    ax.set_ylabel("count")
    ax.set_title(title, fontsize=10)
    rest = [int(np.sum(parsed & ~listed)), int(np.sum(~parsed))]
    ax_u.bar([0, 1], rest, color=["tab:orange", "tab:red"])
    ax_u.set_xticks([0, 1], ["not listed", "unparsed"], fontsize=8)
    for k, value in enumerate(rest):
        ax_u.text(k, value, str(value), ha="center", va="bottom")
    ax.set_ylim(0, 1.15 * max(ax.get_ylim()[1], *rest, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_reliability(blocks: Mapping[str, Mapping[str, Any]], path: Path, title: str) -> Path:
    """Reliability diagram: observed like rate against the mean predicted p of each calibration bin, one line per
    prediction (the diagonal is perfect calibration), over a histogram of the first prediction's p."""
    plt = _pyplot()
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.6, 5.6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfect calibration")
    for name, block in blocks.items():
        bins = block["calibration"]
        ax.plot(
            [b["mean_prob"] for b in bins],
            [b["positive_rate"] for b in bins],
            marker="o",
            markersize=4,
            label=f"{name} (ECE {fmt(block['ece'], 3)})",
        )
    ax.set_ylabel("observed like rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    first_name, first = next(iter(blocks.items()))
    bins = first["calibration"]
    ax_n.bar([b["low"] for b in bins], [b["n"] for b in bins], width=[b["high"] - b["low"] for b in bins], align="edge")
    ax_n.set_xlabel(f"predicted p (histogram: {first_name})")
    ax_n.set_ylabel("count")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
