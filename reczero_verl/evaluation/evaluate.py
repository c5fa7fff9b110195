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
    EvaluationInputError,
    check_alignment,
    check_identity,
    first_few,
    first_target_difference,
    load_targets,
    read_generations,
    read_parquet,
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


def score_samples(targets: pd.DataFrame, records: list[dict[str, Any]], variant: str = "tbr") -> pd.DataFrame:
    """One row per generation: the target's fields plus ``sample``, ``pred``, ``parsed``, ``format_ok``.

    Each response is scored with :func:`reczero_verl.reward.compute_score`, its ``prefix`` (the text a pre-filling
    chat template put in the prompt) prepended, exactly as the reward does in training. ``variant`` is the template
    variant the model was trained with; it only changes what ``format_ok`` checks, never the error metrics.
    """
    from reczero_verl.reward import compute_score

    by_index = targets.set_index("index")
    rows = []
    for record in records:
        target = by_index.loc[record["index"]]
        score = compute_score(
            data_source=target["data_source"],
            solution_str=record["response"],
            ground_truth=float(target["rating"]),
            extra_info={"rating_min": float(target["rating_min"]), "rating_max": float(target["rating_max"])},
            prefilled_prefix=record.get("prefix", "") or "",
            variant=variant,
        )
        rows.append(
            {
                "index": int(record["index"]),
                "sample": int(record["sample"]),
                "data_source": target["data_source"],
                "y": float(target["rating"]),
                "rating_min": float(target["rating_min"]),
                "rating_max": float(target["rating_max"]),
                "pred": float(score["pred"]) if score["parsed"] else math.nan,
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


def _prompt_table(predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per prompt with ``<name>_pred`` / ``<name>_parsed`` for each per-prompt prediction."""
    base = predictions[HEADLINE][["index", "data_source", "y", "rating_min", "rating_max"]].copy()
    for name, frame in predictions.items():
        if name == "per_sample":
            continue
        part = frame.set_index("index")
        base[f"{name}_pred"] = base["index"].map(part["pred"])
        base[f"{name}_parsed"] = base["index"].map(part["parsed"]).astype(bool)
    return base


def evaluate(
    data: str | Path,
    generations: str | Path,
    limit: int | None = None,
    variant: str = "tbr",
    *,
    index_only: bool = False,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Metrics dict and prediction frames of ``generations`` against ``data`` (or its first ``limit`` rows).

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
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
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
    predictions = M.sample_predictions(samples)
    logits = _logit_predictions(samples)
    if logits is not None:
        predictions["rating_logits"] = logits
    result = M.compute_metrics(predictions)
    headline = result["overall"][HEADLINE]
    metrics = {
        "kind": "generations",
        "data": str(data),
        "generations": str(generations),
        "limit": limit,
        "data_fingerprint": targets_fingerprint(targets),
        "index_only_lines": int(unchecked),
        "n_prompts": int(len(targets)),
        "samples_per_prompt": int(k),
        "headline": {"prediction": HEADLINE, "mae": headline["mae"], "rmse": headline["rmse"]},
        **result,
    }
    return M.json_safe(metrics), predictions


def _baseline_targets(path: Path) -> pd.DataFrame | None:
    """The targets the baselines were scored on, from the ``predictions.parquet`` beside their metrics.json."""
    table = path.with_name("predictions.parquet")
    if not table.is_file():
        return None
    try:
        frame = read_parquet(table, ["index", "data_source", "user_id", "item_id", "y", "rating_min", "rating_max"])
    except EvaluationInputError:
        return None
    return frame.rename(columns={"y": "rating"})[list(IDENTITY_COLUMNS)]


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
    predictions: dict[str, pd.DataFrame],
    output: Path,
    *,
    baselines: dict[str, Any] | None = None,
    title: str = "model",
) -> Path:
    """Publish ``metrics.json``, ``predictions.parquet``, ``plots/*.png`` and ``report.md`` as the folder ``output``.

    Everything is written into a staging folder that then replaces ``output`` whole (see
    :func:`~reczero_verl.evaluation.report.published_report`): no plot of an older report survives beside a new one.
    """
    from reczero_verl.evaluation import report as R

    with R.published_report(output) as stage:
        _write_report(metrics, predictions, stage, baselines=baselines, title=title)
    return output / "report.md"


def _write_report(
    metrics: dict[str, Any],
    predictions: dict[str, pd.DataFrame],
    output: Path,
    *,
    baselines: dict[str, Any] | None,
    title: str,
) -> None:
    from reczero_verl.evaluation import report as R

    (output / "plots").mkdir()
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    _prompt_table(predictions).to_parquet(output / "predictions.parquet", index=False)
    lines = [
        f"# Evaluation of {title}",
        "",
        f"Data: `{metrics['data']}`; generations: `{metrics['generations']}`; {metrics['n_prompts']} prompts, "
        f"{metrics['samples_per_prompt']} sample(s) each.",
        "",
        f"**Headline ({HEADLINE}): MAE {metrics['headline']['mae']:.4f}, RMSE {metrics['headline']['rmse']:.4f}** "
        "(an unparseable answer counts at the maximum error of the rating scale; never replaced by the ground truth).",
        "",
        "Predictions: `first_sample` = sample 0; `mean_of_samples` = mean over the parsed samples of a prompt (max "
        "error when none parsed); `per_sample` = every sample on its own; `rating_logits` = expected rating from the "
        "next-token probabilities of the rating values at `<rate>` (sample 0). Baselines always predict (coverage 1).",
    ]
    for source, blocks in metrics["by_data_source"].items():
        baseline_blocks = (baselines or {}).get("by_data_source", {}).get(source, {})
        shown = {**blocks, **{f"baseline: {name}": block for name, block in baseline_blocks.items()}}
        lines += _source_section(source, shown, predictions[HEADLINE], output, title)
    if len(metrics["by_data_source"]) > 1:
        lines += ["", "## All sources together (mixed scales: compare `MAE / max error`)", ""]
        lines.append(R.metrics_table(metrics["overall"]))
    (output / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _source_section(source: str, shown: dict[str, Any], headline: pd.DataFrame, output: Path, title: str) -> list[str]:
    """The report lines of one data source (metric tables of the ``shown`` blocks) and its three plots."""
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
        f"## {source} (scale {scale})",
        "",
        R.metrics_table(shown),
        "",
        "MAE per true rating (unparsed at max error):",
        "",
        R.per_rating_table(shown),
        "",
        R.image_links(pngs, output),
    ]


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
