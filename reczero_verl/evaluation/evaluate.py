# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl evaluate``: score generations with the reward's parser and write metrics, a report and plots.

Joins the generations (``index``, ``sample``, ``response``, ``user_id``, ``item_id``, optional ``prefix``) with the
data on ``extra_info.index`` strictly: missing, extra or duplicated rows are an error naming them, and so is a
generation whose ``user_id`` / ``item_id`` differ from its data row's (it was made for another data file). Files of an
older ``generate`` without the two ids are refused unless ``--index-only``. Every sample is scored with
:func:`reczero_verl.reward.compute_score` (an unparseable answer counts at the maximum error of its row's scale), and
``DIR/metrics.json``, ``DIR/predictions.parquet`` (one row per prompt), ``DIR/report.md`` and PNG plots under
``DIR/plots/`` are published as one unit (an older report in ``DIR`` is replaced whole). ``--baselines`` must come
from the same test set (its ``test_fingerprint``). See :mod:`reczero_verl.evaluation.metrics` for the definitions.

Exit codes: 0 written; 2 bad input (the message names the file and the fix).

The headline prediction is ``first_sample`` (sample 0: the greedy answer when generated at temperature 0);
``mean_of_samples`` and ``per_sample`` are reported beside it, and ``rating_logits`` (the expected rating from the
next-token probabilities at ``<rate>``, sample 0) when the generations carry it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reczero_verl.errors import EXIT_OK
from reczero_verl.evaluation import metrics as M
from reczero_verl.evaluation.data import (
    IDENTITY_COLUMNS,
    TASK_IDENTITY_COLUMNS,
    EvaluationInputError,
    check_alignment,
    check_identity,
    first_few,
    first_target_difference,
    load_targets,
    read_generations,
    read_parquet,
    target_tasks,
    targets_fingerprint,
)
from reczero_verl.evaluation.report import PublishedReport, check_report_dir
from reczero_verl.options import add_option, add_output_dir, as_paths, check_options, from_args, option, positive_int
from reczero_verl.template import DEFAULT_VARIANT, VARIANTS

logger = logging.getLogger(__name__)

__all__ = [
    "EvaluateConfig",
    "write_evaluation_report",
    "configure_parser",
    "config_from_args",
    "main",
    "score_samples",
    "evaluate",
    "select_targets",
    "evaluate_targets",
    "load_baselines",
    "write_outputs",
    "HEADLINE",
]

#: The prediction whose MAE / RMSE is the headline.
HEADLINE = "first_sample"


@dataclass(frozen=True)
class EvaluateConfig:
    """What ``reczero-verl evaluate`` takes (see :func:`configure_parser` for each option); a value out of range
    raises :class:`~reczero_verl.errors.BadInputError` naming the option."""

    data: Path
    generations: Path
    output_dir: Path
    baselines: Path | None = None
    variant: str = option(choices=VARIANTS, default=DEFAULT_VARIANT)
    title: str | None = None
    limit: int | None = option(rule=positive_int, default=None)
    index_only: bool = False

    def __post_init__(self) -> None:
        as_paths(self, "data", "generations", "output_dir", "baselines")
        check_options(self)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``reczero-verl evaluate``."""
    add = partial(add_option, parser, EvaluateConfig)
    add("data", "prepared test parquet (the one the generations were made for)")
    add("generations", "JSON lines written by `reczero-verl generate`")
    add_output_dir(parser, "output folder (metrics.json, report.md, plots/)")
    add("baselines", "metrics.json of `reczero-verl baselines` on the same test file, to compare")
    add("variant", "template variant the model was trained with (sets what the format-OK rate checks)")
    add("title", "name of the model in the report; unset: the generations' file name")
    add("limit", "only the first N rows by extra_info.index (as `generate --limit N`); unset: every row")
    add(
        "index_only",
        "accept generation lines without user_id / item_id (files of an older `generate`), joined on "
        "extra_info.index alone: only when you are sure they were made for --data",
        action="store_true",
    )


def config_from_args(args: argparse.Namespace) -> EvaluateConfig:
    """The typed config of a parsed ``reczero-verl evaluate`` command line."""
    return from_args(EvaluateConfig, args)


def _scoring_extra_info(target: Any) -> dict[str, Any]:
    """The ``extra_info`` the reward needs to score a response for ``target`` (a row of the targets frame)."""
    scale = {"rating_min": float(target["rating_min"]), "rating_max": float(target["rating_max"])}
    if target["task"] == "ranking":
        return {"task": "ranking", "candidates": list(target["candidates"]), **scale}
    if target["task"] == "like":
        return {"task": "like", **scale}
    return scale


def score_samples(targets: pd.DataFrame, records: list[dict[str, Any]], variant: str = "tbr") -> pd.DataFrame:
    """One row per generation: the target's fields plus ``sample``, the answer's reading, ``parsed``, ``format_ok``.

    Each response is scored with :func:`reczero_verl.reward.compute_score` for its row's task, its ``prefix`` (the
    text a pre-filling chat template put in the prompt) prepended, exactly as the reward does in training. ``variant``
    is the template variant the model was trained with; it only changes what ``format_ok`` checks, never the other
    metrics. The reading is ``pred`` (rating: the clipped rating, NaN when unparsed), ``position`` and ``listed``
    (ranking: the target's position in the answer, M when it is not listed or the answer did not parse) or ``prob``
    (like: p, 0.5 when unparsed); ``y`` is the row's truth (rating, candidate number, 0/1 label).
    """
    from reczero_verl.reward import compute_score

    by_index = targets.set_index("index")
    rows = []
    for record in records:
        target = by_index.loc[record["index"]]
        task = target["task"]
        score = compute_score(
            data_source=target["data_source"],
            solution_str=record["response"],
            ground_truth=float(target["truth"]),
            extra_info=_scoring_extra_info(target),
            prefilled_prefix=record.get("prefix", "") or "",
            variant=variant,
        )
        rows.append(
            {
                "index": int(record["index"]),
                "sample": int(record["sample"]),
                "task": task,
                "data_source": target["data_source"],
                "y": float(target["truth"]),
                "rating_min": float(target["rating_min"]),
                "rating_max": float(target["rating_max"]),
                "n_candidates": target["n_candidates"],
                "history_length": target["history_length"],
                "pred": float(score["pred"]) if task == "rating" and score["parsed"] else math.nan,
                "position": score["rank"],
                "listed": bool(score["ndcg"]) if task == "ranking" else None,
                "prob": score["prob"],
                "parsed": bool(score["parsed"]),
                "format_ok": score["format_ok"],
                "rating_logits_expected": record.get("rating_logits_expected"),
            }
        )
    return pd.DataFrame(rows).sort_values(["index", "sample"], kind="stable").reset_index(drop=True)


def _logit_predictions(samples: pd.DataFrame) -> pd.DataFrame | None:
    """``rating_logits`` prediction frame (sample 0's expected rating), or None when no sample carries one."""
    values = samples["rating_logits_expected"]
    present = values.notna()
    if not present.any():
        return None
    if not present.all():
        missing = samples.loc[~present, ["index", "sample"]].itertuples(index=False)
        raise EvaluationInputError(
            "generations: rating_logits_expected is present on some samples but not on "
            f"{int((~present).sum())}: {first_few([tuple(p) for p in missing])}"
        )
    first = samples[samples["sample"] == 0].copy()
    expected = first["rating_logits_expected"].astype(float)
    first["pred"] = np.clip(expected, first["rating_min"], first["rating_max"])
    first["parsed"] = np.isfinite(expected)
    first["format_ok"] = np.nan
    return first[list(M.PREDICTION_COLUMNS)].reset_index(drop=True)


def _task_predictions(
    samples: pd.DataFrame, tasks: list[str], where: str = "generations"
) -> dict[str, dict[str, pd.DataFrame]]:
    """The prediction frames of each task (rating adds ``rating_logits`` when the generations carry it); ranking or
    like samples with ``rating_logits_expected`` are refused, naming ``where`` and the first rows."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for task in tasks:
        rows = samples[samples["task"] == task]
        out[task] = M.task_predictions(task, rows)
        if task == "rating":
            logits = _logit_predictions(rows)
            if logits is not None:
                out[task]["rating_logits"] = logits
        elif rows["rating_logits_expected"].notna().any():
            bad = rows.loc[rows["rating_logits_expected"].notna(), "index"].drop_duplicates()
            raise EvaluationInputError(
                f"{where}: {task} rows carry rating_logits_expected (`generate --rating-logits` is for rating rows "
                f"only; extra_info.index {first_few(bad)}): regenerate them without --rating-logits"
            )
    return out


#: The column of a prediction frame that holds each task's answer, as named in ``predictions.parquet``.
_ANSWER_COLUMN = {"rating": "pred", "ranking": "position", "like": "prob"}


def _prompt_table(predictions: dict[str, pd.DataFrame], task: str = "rating") -> pd.DataFrame:
    """One row per prompt with ``<name>_<answer>`` / ``<name>_parsed`` for each per-prompt prediction of ``task``
    (``pred`` for rating, ``position`` for ranking, ``prob`` for like)."""
    answer = _ANSWER_COLUMN[task]
    columns = (
        ["index", "data_source", "y", "rating_min", "rating_max"] if task == "rating" else ["index", "data_source"]
    )
    base = predictions[HEADLINE].reset_index(drop=True)[columns].copy()
    for name, frame in predictions.items():
        if name == "per_sample":
            continue
        part = frame.set_index("index")
        base[f"{name}_{answer}"] = base["index"].map(part[answer])
        base[f"{name}_parsed"] = base["index"].map(part["parsed"]).astype(bool)
    return base


def _task_prompt_table(predictions: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """``predictions.parquet`` of a file with ranking or like rows: one row per prompt with its ``task``, ``y`` and
    each of its task's per-prompt predictions (``<name>_<answer>``, ``<name>_parsed``; absent on the other tasks'
    rows), ``n_candidates`` for ranking, ``rating_min`` / ``rating_max`` for rating, ``history_length`` when known."""
    parts = []
    for task, frames in predictions.items():
        first = frames[HEADLINE].reset_index(drop=True)
        table = _prompt_table(frames, task).assign(task=task, y=first["y"].to_numpy())
        for column in ("n_candidates", "history_length"):
            if column in first.columns:
                table[column] = first[column].to_numpy()
        parts.append(table)
    table = pd.concat(parts, ignore_index=True)
    for column in table.columns:
        if column.endswith("_parsed"):
            table[column] = table[column].astype("boolean")  # absent (<NA>) on the rows of the other tasks
    front = ["index", "data_source", "task", "y"]
    table = table[front + [c for c in table.columns if c not in front]]
    return table.sort_values("index", kind="stable").reset_index(drop=True)


def _metrics_body(tasks: list[str], predictions: dict[str, dict[str, pd.DataFrame]]) -> dict[str, Any]:
    """The headline and metric blocks: the layout of earlier versions for a rating-only file, ``by_task`` otherwise
    (see :func:`~reczero_verl.evaluation.metrics.task_sections`)."""
    by_task = {task: M.compute_task_metrics(task, predictions[task]) for task in tasks}
    if tasks == ["rating"]:
        result = by_task["rating"]
        return {"headline": M.headline("rating", result["overall"][HEADLINE], HEADLINE), **result}
    return {
        "tasks": tasks,
        "headline": {task: M.headline(task, by_task[task]["overall"][HEADLINE], HEADLINE) for task in tasks},
        "by_task": {task: {"n_prompts": int(len(predictions[task][HEADLINE])), **by_task[task]} for task in tasks},
    }


def evaluate(
    data: str | Path,
    generations: str | Path,
    limit: int | None = None,
    variant: str = "tbr",
    *,
    index_only: bool = False,
) -> tuple[dict[str, Any], dict[str, dict[str, pd.DataFrame]]]:
    """Metrics dict and prediction frames (``{task: {prediction name: frame}}``) of ``generations`` against ``data``
    (or its first ``limit`` rows).

    ``index_only`` accepts generation lines without ``user_id`` / ``item_id`` (see
    :func:`~reczero_verl.evaluation.data.check_identity`); ids that are present are always checked.
    """
    return evaluate_targets(select_targets(data, limit), data, generations, limit, variant, index_only=index_only)


def select_targets(data: str | Path, limit: int | None = None) -> pd.DataFrame:
    """The targets of ``data`` sorted by index, the first ``limit`` of them when given (the range of ``--limit``)."""
    if limit is not None:
        positive_int.check("--limit", limit)
    targets = load_targets(data)
    return targets if limit is None else targets.head(limit)


def evaluate_targets(
    targets: pd.DataFrame,
    data: str | Path,
    generations: str | Path,
    limit: int | None = None,
    variant: str = "tbr",
    *,
    index_only: bool = False,
) -> tuple[dict[str, Any], dict[str, dict[str, pd.DataFrame]]]:
    """:func:`evaluate` on already loaded ``targets`` (those of ``data``, named in the metrics and messages)."""
    records = read_generations(generations)
    unchecked = check_identity(targets, records, str(generations), str(data), index_only=index_only)
    if unchecked:
        logger.warning(
            "evaluate: --index-only: %d generation line(s) without user_id / item_id joined on extra_info.index alone",
            unchecked,
        )
    k = check_alignment(targets["index"].tolist(), [(r["index"], r["sample"]) for r in records], where=str(generations))
    samples = score_samples(targets, records, variant)
    tasks = target_tasks(targets)
    predictions = _task_predictions(samples, tasks, str(generations))
    metrics = {
        "kind": "generations",
        "data": str(data),
        "generations": str(generations),
        "limit": limit,
        "data_fingerprint": targets_fingerprint(targets),
        "index_only_lines": int(unchecked),
        "n_prompts": int(len(targets)),
        "samples_per_prompt": int(k),
        **_metrics_body(tasks, predictions),
    }
    return M.json_safe(metrics), predictions


def _baseline_targets(path: Path) -> pd.DataFrame | None:
    """The targets the baselines were scored on, from the ``predictions.parquet`` beside their metrics.json."""
    table = path.with_name("predictions.parquet")
    if not table.is_file():
        return None
    try:
        frame = read_parquet(table)
    except EvaluationInputError:
        return None
    if not {"index", "data_source", "user_id", "item_id", "y", "rating_min", "rating_max"} <= set(frame.columns):
        return None
    task = frame["task"] if "task" in frame.columns else pd.Series("rating", index=frame.index)
    frame = frame.assign(task=task, truth=frame["y"], rating=frame["y"].where(task == "rating"))
    return frame[[c for c in (*IDENTITY_COLUMNS, *TASK_IDENTITY_COLUMNS) if c in frame.columns]]


def load_baselines(path: str | Path, targets: pd.DataFrame, data: str) -> dict[str, Any]:
    """Read a baselines metrics.json and check it was scored on exactly ``targets`` (its ``test_fingerprint``)."""
    path = Path(path)
    try:
        baselines = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EvaluationInputError(f"--baselines {path}: not a readable metrics.json ({err})") from None
    if not isinstance(baselines, dict) or baselines.get("kind") != "baselines":
        raise EvaluationInputError(f"--baselines {path}: not a metrics.json of `reczero-verl baselines`")
    theirs = baselines.get("test_fingerprint")
    if theirs is None:
        raise EvaluationInputError(
            f"--baselines {path} has no test_fingerprint (written by an older `reczero-verl baselines`), so its test "
            f"set cannot be checked against {data}: rerun `reczero-verl baselines` on that test file"
        )
    if theirs != targets_fingerprint(targets):
        other = _baseline_targets(path)
        where = (
            first_target_difference(targets, other, str(data), str(path.with_name("predictions.parquet")))
            if other is not None
            else "their predictions.parquet is absent"
        )
        raise EvaluationInputError(
            f"--baselines {path} were scored on another test set ({baselines.get('n_targets')} targets of "
            f"{baselines.get('test')}) than the {len(targets)} targets of {data}: {where}. Run `reczero-verl "
            "baselines` with this --test file (and no --limit here)"
        )
    return baselines


def _plot_name(name: str, title: str) -> str:
    if name == HEADLINE:
        return title
    return name.removeprefix("baseline: ") if name.startswith("baseline: ") else f"{title} ({name})"


def write_outputs(
    metrics: dict[str, Any],
    predictions: dict[str, dict[str, pd.DataFrame]],
    output: Path,
    *,
    baselines: dict[str, Any] | None = None,
    title: str = "model",
) -> Path:
    """Publish ``metrics.json``, ``predictions.parquet``, ``plots/*.png`` and ``report.md`` as the folder ``output``.

    ``predictions`` is ``{task: {prediction name: frame}}`` as :func:`evaluate` returns it. Everything is written into
    a staging folder that then replaces ``output`` whole (see
    :func:`~reczero_verl.evaluation.report.published_report`): no plot of an older report survives beside a new one.
    """
    from reczero_verl.evaluation import report as R

    with R.published_report(output) as stage:
        (stage / "plots").mkdir()
        (stage / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        if "by_task" in metrics:
            _task_prompt_table(predictions).to_parquet(stage / "predictions.parquet", index=False)
            _write_task_report(metrics, predictions, stage, baselines=baselines, title=title)
        else:
            _prompt_table(predictions["rating"]).to_parquet(stage / "predictions.parquet", index=False)
            _write_report(metrics, predictions["rating"], stage, baselines=baselines, title=title)
    return output / "report.md"


_RATING_PREDICTIONS = (
    "Predictions: `first_sample` = sample 0; `mean_of_samples` = mean over the parsed samples of a prompt (max "
    "error when none parsed); `per_sample` = every sample on its own; `rating_logits` = expected rating from the "
    "next-token probabilities of the rating values at `<rate>` (sample 0). Baselines always predict (coverage 1)."
)


def _write_report(
    metrics: dict[str, Any],
    predictions: dict[str, pd.DataFrame],
    output: Path,
    *,
    baselines: dict[str, Any] | None,
    title: str,
) -> None:
    """``report.md`` of a rating-only file (the layout of earlier versions)."""

    lines = [
        f"# Evaluation of {title}",
        "",
        f"Data: `{metrics['data']}`; generations: `{metrics['generations']}`; {metrics['n_prompts']} prompts, "
        f"{metrics['samples_per_prompt']} sample(s) each.",
        "",
        f"**Headline ({HEADLINE}): MAE {metrics['headline']['mae']:.4f}, RMSE {metrics['headline']['rmse']:.4f}** "
        "(an unparseable answer counts at the maximum error of the rating scale; never replaced by the ground truth).",
        "",
        _RATING_PREDICTIONS,
    ]
    lines += _rating_sections(metrics, predictions, output, baselines=baselines, title=title, level="##")
    (output / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _baseline_blocks(baselines: dict[str, Any] | None, task: str, source: str) -> dict[str, Any]:
    """The baselines' blocks of ``task`` on ``source``, named ``baseline: <name>``."""
    sections = M.task_sections(baselines) if baselines else {}
    blocks = sections.get(task, {}).get("by_data_source", {}).get(source, {})
    return {f"baseline: {name}": block for name, block in blocks.items()}


def _rating_sections(
    metrics: dict[str, Any],
    predictions: dict[str, pd.DataFrame],
    output: Path,
    *,
    baselines: dict[str, Any] | None,
    title: str,
    level: str,
) -> list[str]:
    """The report lines of the rating predictions: one section per source, then all sources together."""
    from reczero_verl.evaluation import report as R

    lines: list[str] = []
    for source, blocks in metrics["by_data_source"].items():
        shown = {**blocks, **_baseline_blocks(baselines, "rating", source)}
        lines += _source_section(source, shown, predictions[HEADLINE], output, title, level)
    if len(metrics["by_data_source"]) > 1:
        lines += ["", f"{level} All sources together (mixed scales: compare `MAE / max error`)", ""]
        lines.append(R.metrics_table(metrics["overall"]))
    return lines


def _source_section(
    source: str, shown: dict[str, Any], headline: pd.DataFrame, output: Path, title: str, level: str = "##"
) -> list[str]:
    """The report lines of one rating data source (metric tables of the ``shown`` blocks) and its three plots."""
    from reczero_verl.evaluation import report as R

    plots = output / "plots"
    frame = headline[headline["data_source"] == source]
    scale = f"{frame['rating_min'].min():g}-{frame['rating_max'].max():g}"
    stem = R.slug(source)
    pngs = [
        R.plot_confusion(frame, plots / f"{stem}_confusion.png", f"{title} on {source}: true vs predicted"),
        R.plot_errors(frame, plots / f"{stem}_errors.png", f"{title} on {source}: errors ({HEADLINE})"),
        R.plot_per_rating_mae(
            {
                _plot_name(name, title): block["per_rating"]
                for name, block in shown.items()
                if name in (HEADLINE, "rating_logits") or name.startswith("baseline: ")
            },
            plots / f"{stem}_per_rating_mae.png",
            f"MAE per true rating on {source}",
        ),
    ]
    return [
        "",
        f"{level} {source} (scale {scale})",
        "",
        R.metrics_table(shown),
        "",
        "MAE per true rating (unparsed at max error):",
        "",
        R.per_rating_table(shown),
        "",
        R.image_links(pngs, output),
    ]


#: How each task's answers are read, stated once at the top of its section of a report.
TASK_NOTES: dict[str, str] = {
    "ranking": (
        "The target's position in the answer's list counts; a target the list leaves out, and an answer that does "
        "not parse, are ranked last (position M). HR@K = share with position <= K; NDCG@K = 1/log2(1 + position) "
        "within the top K (one relevant item); MRR = mean 1/position. `first_sample` = sample 0; `per_sample` = every "
        "sample on its own, so each figure is the mean of the per-sample figures (K rankings have no mean ranking "
        "without choosing an aggregation rule). Baselines rank every candidate (coverage 1)."
    ),
    "like": (
        "An answer that does not parse counts at p = 0.5 (counted in `unparsed`). AUC counts ties one half; LogLoss "
        "clips p to [1e-6, 1 - 1e-6]; accuracy counts p on the label's side of 0.5 as right and p = 0.5 as one half; "
        "ECE over 10 equal-width bins of p. `first_sample` = sample 0; `mean_of_samples` = mean p of the parsed "
        "samples of a prompt (0.5 when none parsed); `per_sample` = every sample on its own."
    ),
}


def _task_source_section(
    task: str, source: str, shown: dict[str, Any], frame: pd.DataFrame, output: Path, title: str
) -> list[str]:
    """The report lines of one ranking or like data source: its table, its figure by history length, two plots."""
    from reczero_verl.evaluation import report as R

    plots = output / "plots"
    stem = R.slug(source)
    drawn = {
        _plot_name(name, title): block
        for name, block in shown.items()
        if name == HEADLINE or name.startswith("baseline: ")
    }
    if task == "ranking":
        key, table = "ndcg@10", R.ranking_table(shown)
        m = int(frame["n_candidates"].max())
        heading = f"### {source} (M = {m} candidates)" if frame["n_candidates"].nunique() == 1 else f"### {source}"
        first = R.plot_positions(frame, plots / f"{stem}_positions.png", f"{title} on {source}: target's position")
        by_history = R.plot_by_history(drawn, key, plots / f"{stem}_ndcg_by_history.png", f"NDCG@10 on {source}")
    else:
        key, table = "auc", R.like_table(shown)
        heading = f"### {source}"
        first = R.plot_reliability(drawn, plots / f"{stem}_reliability.png", f"Reliability on {source}")
        by_history = R.plot_by_history(drawn, key, plots / f"{stem}_auc_by_history.png", f"AUC on {source}")
    lines = ["", heading, "", table]
    history = R.history_table(shown, key)
    if history:
        lines += ["", f"{key.upper()} by the length of the user's history in the prompt:", "", history]
    pngs = [first] + ([by_history] if by_history is not None else [])
    return [*lines, "", R.image_links(pngs, output)]


def _write_task_report(
    metrics: dict[str, Any],
    predictions: dict[str, dict[str, pd.DataFrame]],
    output: Path,
    *,
    baselines: dict[str, Any] | None,
    title: str,
) -> None:
    """``report.md`` of a file with ranking or like rows: one part per task, one section per data source."""
    from reczero_verl.evaluation import report as R

    counts = ", ".join(f"{metrics['by_task'][task]['n_prompts']} {task}" for task in metrics["tasks"])
    heads = "; ".join(R.headline_text(task, metrics["headline"][task]) for task in metrics["tasks"])
    lines = [
        f"# Evaluation of {title}",
        "",
        f"Data: `{metrics['data']}`; generations: `{metrics['generations']}`; {metrics['n_prompts']} prompts "
        f"({counts}), {metrics['samples_per_prompt']} sample(s) each.",
        "",
        f"**Headline ({HEADLINE})**: {heads}.",
    ]
    for task in metrics["tasks"]:
        section = metrics["by_task"][task]
        lines += ["", f"## {task.capitalize()}", ""]
        if task == "rating":
            lines.append(_RATING_PREDICTIONS)
            lines += _rating_sections(section, predictions[task], output, baselines=baselines, title=title, level="###")
            continue
        lines.append(TASK_NOTES[task])
        headline = predictions[task][HEADLINE]
        for source, blocks in section["by_data_source"].items():
            shown = {**blocks, **_baseline_blocks(baselines, task, source)}
            frame = headline[headline["data_source"] == source]
            lines += _task_source_section(task, source, shown, frame, output, title)
        if len(section["by_data_source"]) > 1:
            table = R.ranking_table if task == "ranking" else R.like_table
            lines += ["", f"### All {task} sources together", "", table(section["overall"])]
    (output / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_evaluation_report(config: EvaluateConfig) -> PublishedReport:
    """Score ``config.generations`` against ``config.data`` and publish the report folder ``config.output_dir``.

    Bad input raises :class:`EvaluationInputError` before the folder is touched.
    """
    check_report_dir(config.output_dir)
    targets = select_targets(config.data, config.limit)
    baselines = load_baselines(config.baselines, targets, str(config.data)) if config.baselines else None
    metrics, predictions = evaluate_targets(
        targets, config.data, config.generations, config.limit, config.variant, index_only=config.index_only
    )
    if config.baselines:
        metrics["baselines"] = str(config.baselines)
    title = config.title or config.generations.stem
    report = write_outputs(metrics, predictions, config.output_dir, baselines=baselines, title=title)
    return PublishedReport(metrics=metrics, report=report)


def main(args: argparse.Namespace) -> int:
    """Run ``reczero-verl evaluate``; returns 0. Bad input raises :class:`EvaluationInputError` (exit code 2)."""
    result = write_evaluation_report(config_from_args(args))
    metrics = result.metrics
    if "by_task" not in metrics:
        head = metrics["headline"]
        cov = metrics["overall"][HEADLINE]["coverage"]
        logger.info(
            "evaluate: %d prompts x %d sample(s): MAE %.4f RMSE %.4f coverage %.3f -> %s",
            metrics["n_prompts"],
            metrics["samples_per_prompt"],
            head["mae"],
            head["rmse"],
            cov if cov is not None and math.isfinite(cov) else float("nan"),
            result.report,
        )
        return EXIT_OK
    from reczero_verl.evaluation.report import fmt, headline_text

    for task in metrics["tasks"]:
        section = metrics["by_task"][task]
        logger.info(
            "evaluate: %d %s prompt(s) x %d sample(s): %s; coverage %s",
            section["n_prompts"],
            task,
            metrics["samples_per_prompt"],
            headline_text(task, metrics["headline"][task]).split(": ", 1)[1],
            fmt(section["overall"][HEADLINE]["coverage"], 3),
        )
    logger.info("evaluate: report -> %s", result.report)
    return EXIT_OK
