# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl curves``: per-step training and validation curves from verl's own generation dumps.

verl 0.9.1 logs only ``critic/score/*`` per training step; the reward's other keys reach its logs in validation only,
and RMSE never. With ``trainer.rollout_data_dir`` and ``trainer.validation_data_dir`` (both on in the recipes) verl
writes ``<dir>/<step>.jsonl``, one JSON line per response. Its v1 trainer (the default, ``trainer.use_v1``) writes:

* training (``trainer/ppo/v1/trainer_base.py``, ``_log_rollout_data`` + ``_write_generations``): ``input``,
  ``output``, ``gts``, ``score``, ``step``, ``uid``; none of the reward's keys, no ``data_source``;
* validation (``_validate`` + ``_write_generations``): the same plus ``reward`` and every key the reward returned
  (``format_ok``, ``parsed``, ``abs_error``, ``sq_error``, ...); no ``data_source`` either.

The legacy trainer (``trainer/ppo/ray_trainer.py``) also writes the reward's keys into the training dumps.

Training responses are **re-scored** with :func:`reczero_verl.reward.compute_score` (the project's one parser), with
the run's reward options: ``--config`` (the run's resolved config, e.g. ``OUTPUT_DIR/resolved_config.yaml`` of the
quickstart or Hydra's ``.hydra/config.yaml``) gives the template variant, the pre-fill, the mode and the format
weight (``reward.custom_reward_function.reward_kwargs``), the rating scale (the ``extra_info.rating_min`` /
``rating_max`` of ``data.train_files``, which must agree on one scale since the dumps do not say which row is which),
the dump folders (skipped while they hold no dump yet) and the data sources; relative paths in it are read from the
current folder, as verl reads them from the launch folder. Explicit options win over it, defaults (``tbr``, no
pre-fill, 1-5) fill the rest. Every re-scored reward is checked against the ``score`` verl dumped: a difference
means the options are not the run's, and is counted and reported. Validation lines are read as dumped (the reward
computed them on each row's own scale); a line without those keys is re-scored the same way.

``data_source`` is the line's own when it has one, otherwise the single ``data_source`` of the config's train / val
files, otherwise the split name (``train`` / ``val``).

``curves.csv`` has one row per (step, split, data_source): ``n``; ``reward_mean`` (verl's dumped reward, so the
training value is verl's ``critic/score/mean``); ``format_rate``; ``coverage`` (share parsed); ``mae`` and ``rmse``
(an unparsed answer at the scale's maximum error; RMSE is the square root of the mean squared error); ``mae_parsed``
(parsed answers only, empty when none parsed); ``response_chars_mean`` (characters of the decoded response). It is
published with PNG plots and ``report.md`` as one folder (staged, then swapped in).

A run in progress can be read at any time: a last line cut mid-write is skipped and counted, malformed lines are
skipped and reported by ``file:line`` (the newest step may then count fewer responses until verl finishes writing it:
rerun). An output folder is replaced whole. Exit codes: 0 written; 2 bad input (a missing or empty dump folder, an
unreadable config, ground truths outside the scale, no readable line).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from reczero_verl.contract import DEFAULT_SCALE, check_in_scale, parse_ground_truth, rating_scale
from reczero_verl.errors import BadInputError
from reczero_verl.options import add_output_dir
from reczero_verl.reward import MODES, compute_score
from reczero_verl.template import DEFAULT_VARIANT, VARIANTS

logger = logging.getLogger(__name__)

__all__ = [
    "CSV_COLUMNS",
    "TRAIN",
    "VAL",
    "ScoringOptions",
    "RunConfig",
    "ReadStats",
    "CurvesResult",
    "step_files",
    "read_lines",
    "read_run_config",
    "aggregate",
    "curves",
    "configure_parser",
    "main",
]

TRAIN, VAL = "train", "val"
CSV_COLUMNS: tuple[str, ...] = (
    "step",
    "split",
    "data_source",
    "n",
    "reward_mean",
    "format_rate",
    "coverage",
    "mae",
    "rmse",
    "mae_parsed",
    "response_chars_mean",
)
#: What a curves folder holds; anything else in it is not ours to replace.
REPORT_FILES: frozenset[str] = frozenset({"curves.csv", "report.md", "plots"})
#: The reward keys a validation line must carry to be read as dumped.
_DUMPED_KEYS = ("format_ok", "parsed", "abs_error", "sq_error")
_STEP_FILE = re.compile(r"^(\d+)\.jsonl$")
#: A re-scored reward further than this from verl's dumped ``score`` means the options are not the run's.
SCORE_TOLERANCE = 1e-6
#: How many ``file:line`` locations a log message or the report lists.
_SHOW = 5


@dataclass(frozen=True)
class ScoringOptions:
    """The reward options training responses are re-scored with (``compute_score``'s keyword options)."""

    variant: str = DEFAULT_VARIANT
    prefilled_prefix: str = ""
    mode: str = "full"
    format_weight: float = 0.5
    rating_min: float = DEFAULT_SCALE[0]
    rating_max: float = DEFAULT_SCALE[1]
    #: Where the options came from, for the report ("defaults", "options", the config's path...).
    origin: str = "defaults"

    def describe(self) -> str:
        return (
            f"variant {self.variant}, pre-fill {self.prefilled_prefix!r}, scale {self.rating_min:g}-"
            f"{self.rating_max:g}, mode {self.mode}, format weight {self.format_weight:g} ({self.origin})"
        )


@dataclass(frozen=True)
class RunConfig:
    """What a run's resolved config says about its dumps, its reward and its data."""

    path: Path
    rollout_data_dir: Path | None
    validation_data_dir: Path | None
    reward_kwargs: Mapping[str, Any]
    data_variant: str | None
    train_files: tuple[Path, ...]
    val_files: tuple[Path, ...]


@dataclass
class ReadStats:
    """What reading one split's dumps found besides the usable lines."""

    folder: Path | None = None
    files: int = 0
    lines: int = 0
    #: ``file:line`` of last lines cut mid-write (a run in progress).
    torn: list[str] = field(default_factory=list)
    #: ``file:line: why`` of malformed lines.
    bad: list[str] = field(default_factory=list)
    #: ``file:line`` of re-scored lines whose reward differs from the dumped ``score``.
    score_mismatch: list[str] = field(default_factory=list)
    #: Validation lines without the reward's keys, re-scored.
    rescored: int = 0


@dataclass(frozen=True)
class CurvesResult:
    """What :func:`curves` wrote and read."""

    output: Path
    table: pd.DataFrame
    stats: Mapping[str, ReadStats]
    options: ScoringOptions


# ---- reading the dumps -------------------------------------------------------------------------------------------


def step_files(folder: Path, what: str) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``<step>.jsonl`` in ``folder``, by step; one clear error when there is none."""
    if not folder.exists():
        raise BadInputError(
            f"{what} {folder}: no such folder (verl writes it at the first step when trainer.{_dir_key(what)} is set; "
            "check the path, or wait for the run's first step)"
        )
    if not folder.is_dir():
        raise BadInputError(f"{what} {folder} is a file; give the folder verl writes <step>.jsonl files into")
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name)) and p.is_file())
    if not found:
        raise BadInputError(
            f"{what} {folder} holds no <step>.jsonl dump yet (verl writes one per step when trainer.{_dir_key(what)} "
            "is set); check the path, or wait for the run's first step"
        )
    return found


def _dir_key(what: str) -> str:
    return "rollout_data_dir" if what == "--rollouts" else "validation_data_dir"


def read_lines(path: Path, stats: ReadStats) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each JSON object line of ``path``.

    A last line without its newline that does not parse is a write in progress: skipped and counted in
    ``stats.torn``. Any other line that is not a JSON object is skipped and counted in ``stats.bad``.
    """
    data = path.read_bytes()
    pieces = data.split(b"\n")
    last = len(pieces) - 1  # the piece after the final newline: b"" for a complete file
    for number, raw in enumerate(pieces, start=1):
        if not raw.strip():
            continue
        stats.lines += 1
        try:
            obj = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            if number - 1 == last:
                stats.torn.append(f"{path}:{number}")
            else:
                stats.bad.append(f"{path}:{number}: not JSON ({err.__class__.__name__})")
            continue
        if not isinstance(obj, dict):
            stats.bad.append(f"{path}:{number}: not a JSON object")
            continue
        yield number, obj


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _line_problem(obj: Mapping[str, Any], step: int) -> str | None:
    """Why a dump line cannot be used, or None."""
    if not isinstance(obj.get("output"), str):
        return "no 'output' string"
    if not _finite(obj.get("score")):
        return "no finite 'score'"
    if "step" in obj and obj["step"] != step:
        return f"'step' {obj['step']!r} differs from the file's step {step}"
    source = obj.get("data_source")
    if source is not None and not isinstance(source, str):
        return "'data_source' is not a string"
    return None


def _rescore(obj: Mapping[str, Any], options: ScoringOptions, where: str) -> dict[str, Any]:
    """``compute_score`` on one dump line with ``options``; ``ValueError`` for a ground truth that is no rating.

    A ground truth outside the scale is a wrong scale, not a bad line: :class:`BadInputError` naming the fix.
    """
    y = parse_ground_truth(obj.get("gts"))
    extra = obj.get("extra_info") if isinstance(obj.get("extra_info"), Mapping) else None
    lo, hi = rating_scale(extra, (options.rating_min, options.rating_max))
    try:
        check_in_scale(y, lo, hi)
    except ValueError:
        raise BadInputError(
            f"{where}: ground truth {y:g} is outside the rating scale {lo:g}-{hi:g} used to re-score; give the run's "
            "scale with --rating-min/--rating-max, or its resolved config with --config"
        ) from None
    return compute_score(
        data_source=obj.get("data_source"),
        solution_str=obj["output"],
        ground_truth=y,
        extra_info=extra,
        mode=options.mode,
        format_weight=options.format_weight,
        prefilled_prefix=options.prefilled_prefix,
        variant=options.variant,
        rating_min=options.rating_min,
        rating_max=options.rating_max,
    )


def _dumped_keys(obj: Mapping[str, Any]) -> dict[str, float] | None:
    """The validation line's own reward keys, or None when one is missing or not a finite number."""
    values = {key: obj.get(key) for key in _DUMPED_KEYS}
    if all(_finite(v) for v in values.values()):
        return {k: float(v) for k, v in values.items()}
    return None


def score_lines(
    folder: Path, split: str, options: ScoringOptions, default_source: str, stats: ReadStats
) -> list[dict[str, Any]]:
    """One record per usable dump line of ``folder``: step, split, data_source and the per-response figures."""
    what = "--rollouts" if split == TRAIN else "--validation"
    records = []
    stats.folder = folder
    for step, path in step_files(folder, what):
        stats.files += 1
        for number, obj in read_lines(path, stats):
            where = f"{path}:{number}"
            problem = _line_problem(obj, step)
            dumped = _dumped_keys(obj) if split == VAL else None
            if problem is None and dumped is None:
                try:
                    scored = _rescore(obj, options, where)
                except ValueError as err:  # BadInputError (a wrong scale) is a ValueError too: it must propagate
                    if isinstance(err, BadInputError):
                        raise
                    problem = f"cannot be scored ({err})"
                else:
                    dumped = {key: float(scored[key]) for key in _DUMPED_KEYS}
                    if split == VAL:
                        stats.rescored += 1
                    if abs(float(scored["score"]) - float(obj["score"])) > SCORE_TOLERANCE:
                        stats.score_mismatch.append(where)
            if problem is not None:
                stats.bad.append(f"{where}: {problem}")
                continue
            records.append(
                {
                    "step": step,
                    "split": split,
                    "data_source": obj.get("data_source") or default_source,
                    "score": float(obj["score"]),
                    "chars": len(obj["output"]),
                    **dumped,
                }
            )
    return records


# ---- aggregating -------------------------------------------------------------------------------------------------


def aggregate(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (step, split, data_source) with the :data:`CSV_COLUMNS`, ordered by step, split, source."""
    frame = pd.DataFrame(list(records))
    if frame.empty:
        return pd.DataFrame(columns=list(CSV_COLUMNS))
    rows = []
    for (step, split, source), group in frame.groupby(["step", "split", "data_source"], sort=True):
        parsed = group["parsed"] > 0.5
        rows.append(
            {
                "step": int(step),
                "split": split,
                "data_source": source,
                "n": len(group),
                "reward_mean": group["score"].mean(),
                "format_rate": group["format_ok"].mean(),
                "coverage": parsed.mean(),
                "mae": group["abs_error"].mean(),
                "rmse": math.sqrt(group["sq_error"].mean()),
                "mae_parsed": group.loc[parsed, "abs_error"].mean() if parsed.any() else math.nan,
                "response_chars_mean": group["chars"].mean(),
            }
        )
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


# ---- the run's config --------------------------------------------------------------------------------------------


def _paths(value: Any) -> tuple[Path, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (Path(value),)
    return tuple(Path(v) for v in value)


def read_run_config(path: Path) -> RunConfig:
    """Read the keys :func:`curves` uses from a run's (resolved or Hydra-saved) config YAML."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not path.is_file():
        raise BadInputError(f"--config {path}: no such file (the quickstart writes OUTPUT_DIR/resolved_config.yaml)")
    try:
        config = OmegaConf.load(path)

        def get(key: str, default: Any = None) -> Any:
            value = OmegaConf.select(config, key, default=default)
            return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value

        rollout_dir, val_dir = get("trainer.rollout_data_dir"), get("trainer.validation_data_dir")
        reward_kwargs = get("reward.custom_reward_function.reward_kwargs", {}) or {}
        data_variant = get("data.reczero.variant")
        train_files, val_files = _paths(get("data.train_files")), _paths(get("data.val_files"))
    except (OSError, ValueError, TypeError, OmegaConfBaseException) as err:
        raise BadInputError(f"--config {path}: cannot be read as a verl config ({err})") from None
    if not isinstance(reward_kwargs, Mapping):
        raise BadInputError(f"--config {path}: reward.custom_reward_function.reward_kwargs is not a mapping")
    return RunConfig(
        path=path,
        rollout_data_dir=Path(rollout_dir) if rollout_dir else None,
        validation_data_dir=Path(val_dir) if val_dir else None,
        reward_kwargs=dict(reward_kwargs),
        data_variant=data_variant if isinstance(data_variant, str) else None,
        train_files=train_files,
        val_files=val_files,
    )


def data_summary(
    files: Sequence[Path], default_scale: tuple[float, float]
) -> tuple[set[str], set[tuple[float, float]]]:
    """The ``data_source`` values and rating scales (the reward's rule, ``default_scale`` where a row states none)
    of prepared parquet files, reading only those two columns (once per file list)."""
    sources, scales = _data_summary(tuple(files), default_scale)
    return set(sources), set(scales)


@functools.lru_cache(maxsize=8)
def _data_summary(
    files: tuple[Path, ...], default_scale: tuple[float, float]
) -> tuple[frozenset[str], frozenset[tuple[float, float]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sources: set[str] = set()
    scales: set[tuple[float, float]] = set()
    for path in files:
        try:
            names = pq.read_schema(path).names
            table = pq.read_table(path, columns=[c for c in ("data_source", "extra_info") if c in names])
        except (OSError, pa.ArrowException) as err:
            raise BadInputError(
                f"{path} (a data file of --config) cannot be read ({str(err).splitlines()[0]}); run from the folder "
                "training was launched from, or give --rating-min/--rating-max"
            ) from None
        frame = pd.DataFrame({"data_source": table.column("data_source").to_pylist()} if "data_source" in names else {})
        if "extra_info" in names:
            info = table.column("extra_info").to_pylist()
            frame["rating_min"] = [(i or {}).get("rating_min") if isinstance(i, dict) else None for i in info]
            frame["rating_max"] = [(i or {}).get("rating_max") if isinstance(i, dict) else None for i in info]
        for row in frame.drop_duplicates().to_dict("records"):
            if isinstance(row.get("data_source"), str):
                sources.add(row["data_source"])
            bounds = {k: row.get(k) for k in ("rating_min", "rating_max") if row.get(k) is not None}
            try:
                scales.add(rating_scale(bounds, default_scale))
            except ValueError as err:
                raise BadInputError(f"{path}: {err}") from None
    return frozenset(sources), frozenset(scales)


def _float_option(value: Any, name: str, origin: str) -> float:
    if isinstance(value, bool) or not _finite(value):
        raise BadInputError(f"{origin}: {name} must be a finite number, got {value!r}")
    return float(value)


def resolve_options(args: argparse.Namespace, config: RunConfig | None, need_scale: bool) -> ScoringOptions:
    """The re-scoring options: explicit options, then the config's reward options and data, then the defaults."""
    kwargs = dict(config.reward_kwargs) if config else {}
    base = ScoringOptions()
    variant = args.variant or kwargs.get("variant") or (config.data_variant if config else None) or base.variant
    prefix = args.prefilled_prefix if args.prefilled_prefix is not None else kwargs.get("prefilled_prefix") or ""
    mode = args.mode or kwargs.get("mode") or base.mode
    where = f"--config {config.path}" if config else "options"
    weight = args.format_weight if args.format_weight is not None else kwargs.get("format_weight", base.format_weight)
    weight = _float_option(weight, "format_weight", where)
    if variant not in VARIANTS or mode not in MODES or not isinstance(prefix, str):
        raise BadInputError(f"{where}: reward options variant={variant!r} mode={mode!r} prefilled_prefix={prefix!r}")
    default_scale = (
        _float_option(kwargs.get("rating_min", DEFAULT_SCALE[0]), "rating_min", where),
        _float_option(kwargs.get("rating_max", DEFAULT_SCALE[1]), "rating_max", where),
    )
    lo, hi = default_scale
    if args.rating_min is not None or args.rating_max is not None:
        lo = default_scale[0] if args.rating_min is None else args.rating_min
        hi = default_scale[1] if args.rating_max is None else args.rating_max
    elif config and need_scale and config.train_files:
        _, scales = data_summary(config.train_files, default_scale)
        if len(scales) > 1:
            shown = ", ".join(f"{a:g}-{b:g}" for a, b in sorted(scales))
            raise BadInputError(
                f"the training files of --config {config.path} mix rating scales ({shown}) and verl's training dumps "
                "do not say which response is on which: give the scale to re-score with --rating-min/--rating-max "
                "(or leave --rollouts out)"
            )
        if scales:
            lo, hi = scales.pop()
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise BadInputError(f"the rating scale {lo:g}-{hi:g} is empty: --rating-min must be below --rating-max")
    given = (args.variant, args.prefilled_prefix, args.mode, args.format_weight, args.rating_min, args.rating_max)
    origin = [f"config {config.path}"] if config else []
    if any(v is not None for v in given):
        origin.insert(0, "command-line options")
    return replace(
        base,
        variant=variant,
        prefilled_prefix=prefix,
        mode=mode,
        format_weight=weight,
        rating_min=float(lo),
        rating_max=float(hi),
        origin=" over ".join(origin) or "defaults",
    )


def source_label(config: RunConfig | None, split: str) -> str:
    """``data_source`` of lines that carry none: the one source of the config's ``split`` files, else ``split``."""
    files = (config.train_files if split == TRAIN else config.val_files) if config else ()
    if not files:
        return split
    sources, _ = data_summary(files, DEFAULT_SCALE)
    if len(sources) == 1:
        return next(iter(sources))
    if len(sources) > 1:
        logger.warning(
            "curves: the %s files hold %d data sources and verl's dumps do not name them: the %s figures pool them",
            split,
            len(sources),
            split,
        )
    return split


# ---- plots and report --------------------------------------------------------------------------------------------

#: (file stem, title, [(column, line style, label suffix)], y label) of each plot.
_PLOTS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...], str], ...] = (
    ("reward", "reward (verl's score)", (("reward_mean", "-", ""),), "mean reward"),
    (
        "format_rate",
        "format rate and coverage",
        (("format_rate", "-", " format"), ("coverage", ":", " parsed")),
        "share",
    ),
    ("errors", "MAE and RMSE (unparsed at max error)", (("mae", "-", " MAE"), ("rmse", ":", " RMSE")), "rating error"),
    ("response_chars", "response length", (("response_chars_mean", "-", ""),), "mean characters"),
)


def _series(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(label, rows by step)`` per (split, data_source): ``train`` / ``val`` alone when the source is the split."""
    out = []
    for (split, source), group in table.groupby(["split", "data_source"], sort=True):
        label = split if source == split else f"{split} {source}"
        out.append((label, group.sort_values("step")))
    return out


def _draw(ax: Any, table: pd.DataFrame, spec: tuple[str, str, tuple[tuple[str, str, str], ...], str]) -> None:
    from matplotlib.ticker import MaxNLocator

    _, title, columns, ylabel = spec
    for k, (label, rows) in enumerate(_series(table)):
        colour = f"C{k % 10}"  # one colour per series, in every plot
        marker = "o" if rows["split"].iloc[0] == VAL else "."
        for column, style, suffix in columns:
            ax.plot(rows["step"], rows[column], style, marker=marker, color=colour, label=f"{label}{suffix}")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_curves(table: pd.DataFrame, folder: Path) -> list[Path]:
    """One PNG per quantity (training and validation on the same axes) and ``overview.png`` with all four."""
    from reczero_verl.evaluation.report import _pyplot

    plt = _pyplot()
    paths = []
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for ax, spec in zip(axes.flat, _PLOTS, strict=True):
        _draw(ax, table, spec)
    for ax in axes[0]:
        ax.set_xlabel("")  # the columns share their step axis with the plot below
    fig.tight_layout()
    paths.append(folder / "overview.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    for spec in _PLOTS:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        _draw(ax, table, spec)
        fig.tight_layout()
        paths.append(folder / f"{spec[0]}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _latest_table(table: pd.DataFrame) -> str:
    """Markdown: the first and the latest step of each series."""
    lines = ["| " + " | ".join(CSV_COLUMNS) + " |", "|" + "---|" * len(CSV_COLUMNS)]
    for _, rows in _series(table):
        shown = rows.iloc[[0, -1]] if len(rows) > 1 else rows
        for row in shown.itertuples(index=False):
            lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _reading_notes(stats: Mapping[str, ReadStats], options: ScoringOptions) -> list[str]:
    notes = []
    for split, s in stats.items():
        notes.append(
            f"- {split}: `{s.folder}`, {s.files} step file(s), {s.lines} line(s); {len(s.torn)} torn last line(s) "
            f"skipped (a write in progress), {len(s.bad)} malformed line(s) skipped"
            + (f": {'; '.join(s.bad[:_SHOW])}" if s.bad else "")
        )
        if s.rescored:
            notes.append(f"- {split}: {s.rescored} line(s) without the reward's keys were re-scored")
        if s.score_mismatch:
            notes.append(
                f"- **{split}: {len(s.score_mismatch)} re-scored reward(s) differ from verl's dumped score** (e.g. "
                f"{', '.join(s.score_mismatch[:_SHOW])}): the re-scoring options ({options.describe()}) are not the "
                "run's; give its --config or the right --variant / --prefilled-prefix / --rating-min / --rating-max"
            )
    return notes


def write_report(table: pd.DataFrame, stats: Mapping[str, ReadStats], options: ScoringOptions, folder: Path) -> None:
    """Write ``curves.csv``, ``plots/*.png`` and ``report.md`` into ``folder`` (a staging folder)."""
    from reczero_verl.evaluation.report import image_links

    table.to_csv(folder / "curves.csv", index=False)
    plots = folder / "plots"
    plots.mkdir()
    pngs = plot_curves(table, plots)
    lines = [
        "# Training curves",
        "",
        "From verl's own generation dumps (`trainer.rollout_data_dir`, `trainer.validation_data_dir`). Training "
        f"responses re-scored with the project's parser: {options.describe()}. Validation figures as the reward "
        "dumped them. MAE and RMSE count an unparsed answer at the scale's maximum error; `reward_mean` is verl's "
        "dumped reward (training: verl's `critic/score/mean`).",
        "",
        *_reading_notes(stats, options),
        "",
        image_links(pngs[:1], folder),
        "",
        "First and latest step of each series (all steps: `curves.csv`):",
        "",
        _latest_table(table),
        "",
        image_links(pngs[1:], folder),
    ]
    (folder / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---- the command -------------------------------------------------------------------------------------------------


def curves(
    rollouts: Path | None,
    validation: Path | None,
    output: Path,
    options: ScoringOptions | None = None,
    *,
    train_source: str = TRAIN,
    val_source: str = VAL,
) -> CurvesResult:
    """Read the dumps in ``rollouts`` (training) and ``validation``, and publish ``curves.csv``, the plots and
    ``report.md`` as the folder ``output`` (replaced whole). ``train_source`` / ``val_source`` name the data source
    of lines that carry none. Raises :class:`BadInputError` for a missing or empty folder or no usable line."""
    from reczero_verl.evaluation.report import check_report_dir, published_report

    options = options or ScoringOptions()
    if rollouts is None and validation is None:
        raise BadInputError("nothing to read: give --rollouts DIR and/or --validation DIR (or --config)")
    check_report_dir(output, REPORT_FILES)
    stats: dict[str, ReadStats] = {}
    records: list[dict[str, Any]] = []
    for split, folder, source in ((TRAIN, rollouts, train_source), (VAL, validation, val_source)):
        if folder is not None:
            stats[split] = ReadStats()
            records += score_lines(Path(folder), split, options, source, stats[split])
    for split, s in stats.items():
        if s.torn:
            logger.info(
                "curves: %s: skipped %d torn last line(s) (a write in progress): %s", split, len(s.torn), s.torn
            )
        if s.bad:
            logger.warning("curves: %s: skipped %d malformed line(s): %s", split, len(s.bad), "; ".join(s.bad[:_SHOW]))
        if s.score_mismatch:
            logger.warning(
                "curves: %s: %d of the re-scored rewards differ from verl's dumped score (first: %s): the options "
                "(%s) are not the run's",
                split,
                len(s.score_mismatch),
                s.score_mismatch[0],
                options.describe(),
            )
    table = aggregate(records)
    if table.empty:
        folders = ", ".join(str(s.folder) for s in stats.values())
        raise BadInputError(f"no usable dump line in {folders} (every line is torn or malformed; see the warnings)")
    with published_report(output, REPORT_FILES) as stage:
        write_report(table, stats, options, stage)
    return CurvesResult(output=output, table=table, stats=stats, options=options)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``reczero-verl curves``."""
    parser.add_argument("--rollouts", default=None, help="trainer.rollout_data_dir of the run (training dumps)")
    parser.add_argument("--validation", default=None, help="trainer.validation_data_dir of the run (validation dumps)")
    add_output_dir(parser, "output folder (curves.csv, report.md, plots/)")
    parser.add_argument(
        "--config",
        default=None,
        help="the run's resolved config (quickstart: OUTPUT_DIR/resolved_config.yaml; Hydra: .hydra/config.yaml): "
        "the dump folders, the reward options, the rating scale and the data sources; explicit options win",
    )
    parser.add_argument("--variant", choices=list(VARIANTS), default=None, help="template variant (default: tbr)")
    parser.add_argument(
        "--prefilled-prefix", default=None, help="text the chat template pre-filled (the reward's prefilled_prefix)"
    )
    parser.add_argument("--mode", choices=list(MODES), default=None, help="reward mode (default: full)")
    parser.add_argument("--format-weight", type=float, default=None, help="reward format weight (default: 0.5)")
    parser.add_argument("--rating-min", type=float, default=None, help="bottom of the rating scale (default: 1)")
    parser.add_argument("--rating-max", type=float, default=None, help="top of the rating scale (default: 5)")


def _config_folder(folder: Path | None, what: str) -> Path | None:
    """A dump folder named by the config: used when it holds dumps (a run in progress may not have them yet)."""
    if folder is None:
        return None
    if folder.is_dir() and any(_STEP_FILE.match(p.name) for p in folder.iterdir()):
        return folder
    logger.warning("curves: %s %s (from --config) holds no dump yet; skipped", what, folder)
    return None


def main(args: argparse.Namespace) -> int:
    """Run ``reczero-verl curves``; returns 0. Bad input raises :class:`BadInputError` (exit code 2)."""
    config = read_run_config(Path(args.config)) if args.config else None
    rollouts = Path(args.rollouts) if args.rollouts else None
    validation = Path(args.validation) if args.validation else None
    if config is not None:
        rollouts = rollouts or _config_folder(config.rollout_data_dir, "--rollouts")
        validation = validation or _config_folder(config.validation_data_dir, "--validation")
        if rollouts is None and validation is None:
            raise BadInputError(
                f"--config {config.path}: neither trainer.rollout_data_dir ({config.rollout_data_dir}) nor "
                f"trainer.validation_data_dir ({config.validation_data_dir}) holds a dump yet"
            )
    options = resolve_options(args, config, need_scale=rollouts is not None)
    result = curves(
        rollouts,
        validation,
        Path(args.output_dir),
        options,
        train_source=source_label(config, TRAIN) if rollouts is not None else TRAIN,
        val_source=source_label(config, VAL) if validation is not None else VAL,
    )
    table = result.table
    latest = table.sort_values("step").groupby(["split", "data_source"], sort=True).tail(1)
    summary = "; ".join(
        f"{r.split} {r.data_source} step {r.step}: MAE {r.mae:.3f} RMSE {r.rmse:.3f} format {r.format_rate:.2f}"
        for r in latest.itertuples(index=False)
    )
    logger.info("curves: %d row(s) -> %s (%s)", len(table), result.output / "report.md", summary)
    return 0
