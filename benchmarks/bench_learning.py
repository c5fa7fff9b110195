# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: a miniature RecOne on CPU that learns, not just runs (cold-start SFT, then GRPO, on held-out prompts).

Run from the repository root: ``python benchmarks/bench_learning.py [--seeds 0 1 2] [--json-out FILE]``; 5.5-7
minutes per seed on 2 shared cores (16.5-20.4 for three, measured). Per seed, everything through the project's and
verl's own entry points:

1. **data** (once, shared by the seeds): a small dump in the Amazon Review Data (2018) format written here
   (:func:`write_dump`), then ``reczero-verl prepare amazon`` on it (time split; the newest ``val_prompts`` targets
   of the test split are the held-out prompts). The learnable signal: each item has a fixed quality ``q`` in 1..5
   and *every* rating of the item is ``q``, so the target's true rating is ``q``. The prompt shows it as the item's
   description, the quality word (``awful|poor|fair|good|superb`` for 1..5) repeated ``cue_repeats`` times, and as
   the item's earlier ratings ("Ratings by other users", "Average rating of this item: q"). The user's own past
   ratings are of other items and carry no information about the target. The items are shared by the splits (a
   time split), so a model may also remember an item's quality by its title; either way it must read the prompt.
   The word is repeated because a random 2-layer model on 2 cores needs it: with the word once, reading it from a
   ~300-token prompt (a 165-token system prompt included) set in only after 150-300 SFT steps and not for every
   seed (measured; see benchmarks/README.md).
2. **model**: :func:`reczero_verl.cpu.tiny_model.build_tiny_model` (no hub download): a byte-level BPE tokenizer
   trained on the training prompts and traces, and a randomly initialised 2-layer Qwen2 (hidden 64, 4 heads with
   their own keys and values, about 0.13M parameters). No ``answer_steps``: it knows nothing of the answer format.
3. **before SFT**: ``main_ppo`` with the RecZero GRPO reference recipe on the base model, ``trainer.val_only=true``
   (verl's validation only: greedy, one answer per held-out prompt).
4. **SFT**: verl's ``sft_trainer`` under ``torchrun`` with the RecOne SFT recipe on cold-start traces written here
   (not by a teacher model) in the layout ``reczero-verl coldstart`` writes (``messages`` parquet: the training
   prompt's system and user turns, then the trace as the assistant turn). Each trace is a TbR answer that reads the
   cue and ends with the teacher's rating::

       <analyze user>Ratings vary by item.</analyze user>
       <analyze item>Quality superb: 4</analyze item>
       <match>4</match>
       <rate>4</rate>

   The teacher is deliberately imperfect, so that GRPO has something to correct: a *hedging* teacher that, for an
   item of an extreme quality (1 or 5), names the true rating only with probability ``teacher_extreme_rate`` and
   otherwise one step toward the middle (2 or 4); ratings 2-4 are always right. An SFT model that imitates it rates
   extreme items one step off (greedy), while its samples sometimes hold the true rating.
5. **GRPO**: ``main_ppo`` with the RecOne GRPO recipe from the SFT checkpoint's Hugging Face copy
   (``RECONE_SFT_MODEL=<sft>/global_step_<N>/huggingface``) with the full reward (format + accuracy against the
   *true* rating), validating before the first step ("after SFT") and after the last ("after GRPO").

Every reported figure is read from verl's own logged validation metrics (verl's file logger,
``VERL_FILE_LOGGER_PATH``): ``val-aux/<data_source>/{reward,format_ok,abs_error}/mean@1`` (MAE counts an unparsed
answer at the maximum error of the scale). Wall times are those of each phase's process. Trainers run one at a time
with ``OMP_NUM_THREADS=1`` by default (two threads per process on 2 busy cores were several times slower, measured).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reczero_verl import quickstart  # noqa: E402
from reczero_verl.template import close_tag, format_rating, open_tag  # noqa: E402

logger = logging.getLogger("bench_learning")

NAME = "learn"
SOURCE = f"reczero/{NAME}"
BASE_RECIPE = "reczero_qwen2.5-0.5b-instruct_1gpu"
SFT_RECIPE = "recone_qwen2.5-0.5b-instruct_1gpu_sft"
GRPO_RECIPE = "recone_qwen2.5-0.5b-instruct_1gpu_grpo"
#: The quality word shown in an item's description, by rating.
QUALITY_WORDS = {1: "awful", 2: "poor", 3: "fair", 4: "good", 5: "superb"}
NOUNS = ("shirt", "shoe", "bag", "hat", "watch", "dress", "belt", "scarf", "sock", "coat")
#: The three measurement points, in order.
POINTS = ("before_sft", "after_sft", "after_grpo")
FIGURES = ("reward", "format_ok", "abs_error")


@dataclass(frozen=True)
class Settings:
    """Everything a run depends on besides the seed (all of it is saved in the JSON)."""

    n_items: int = 60
    n_users: int = 600
    reviews_per_user: int = 3
    history_len: int = 3
    val_prompts: int = 64
    #: How many times the quality word is written in the item's description.
    cue_repeats: int = 80
    #: Probability that the hedging teacher names an extreme rating (1 or 5) rather than one step toward the middle.
    teacher_extreme_rate: float = 0.5
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    sft_traces: int = 512
    sft_steps: int = 300
    sft_batch: int = 8
    sft_lr: float = 3e-3
    grpo_steps: int = 10
    grpo_prompts: int = 8
    rollout_n: int = 8
    grpo_lr: float = 1e-3
    #: Linear warm-up of the actor's learning rate: Adam's first steps move every weight by about the full rate.
    grpo_warmup_steps: int = 3
    response_length: int = 48
    temperature: float = 0.7
    kl_loss: bool = True
    norm_adv_by_std: bool = True
    threads: int = 1


# ---- data ----------------------------------------------------------------------------------------------------------


def write_dump(folder: Path, settings: Settings, seed: int = 0) -> tuple[Path, Path]:
    """Reviews and meta files in the Amazon 2018 JSON-lines format; every rating of an item is its quality."""
    rng = random.Random(seed)
    quality = [rng.randint(1, 5) for _ in range(settings.n_items)]
    folder.mkdir(parents=True, exist_ok=True)
    reviews, meta = folder / "reviews.json", folder / "meta.json"
    with reviews.open("w", encoding="utf-8") as out:
        for user in range(settings.n_users):
            for item in rng.sample(range(settings.n_items), settings.reviews_per_user):
                record = {
                    "overall": float(quality[item]),
                    "verified": True,
                    "reviewerID": f"U{user:05d}",
                    "asin": f"B{item:05d}",
                    "unixReviewTime": 1_400_000_000 + rng.randint(0, 1000) * 86_400,
                }
                out.write(json.dumps(record) + "\n")
    with meta.open("w", encoding="utf-8") as out:
        for item in range(settings.n_items):
            title = f"{NOUNS[item % len(NOUNS)]} {item}"
            description = [" ".join([QUALITY_WORDS[quality[item]]] * settings.cue_repeats)]
            out.write(json.dumps({"asin": f"B{item:05d}", "title": title, "description": description}) + "\n")
    return reviews, meta


def prepare(reviews: Path, meta: Path, out: Path, settings: Settings, log: Path) -> None:
    """``reczero-verl prepare amazon`` on the dump: a time split, the newest ``val_prompts`` targets held out."""
    command = [
        sys.executable, "-m", "reczero_verl.cli", "prepare", "amazon", "--reviews", str(reviews), "--meta", str(meta),
        "--output-dir", str(out), "--name", NAME, "--history-len", str(settings.history_len),
        "--max-title-chars", "20", "--max-text-chars", str(8 * settings.cue_repeats), "--max-test",
        str(settings.val_prompts),
    ]  # fmt: skip
    run_logged(command, child_env({}), log)


def quality_word(row: Any) -> str:
    """The cue word of a prepared row's target item (its description is that word, repeated)."""
    return str(row["target_item"]["description"]).split()[0]


def teacher_rating(truth: float, extreme_rate: float, rng: random.Random) -> float:
    """The hedging teacher: an extreme rating (1 or 5) with probability ``extreme_rate``, else one step inwards."""
    if truth in (1.0, 5.0) and rng.random() >= extreme_rate:
        return truth + (1.0 if truth == 1.0 else -1.0)
    return truth


def trace(row: Any, rating: float) -> str:
    """The cold-start trace of a prepared row: TbR sections that read the cue word, ending with ``rating``."""
    text = format_rating(rating)
    sections = {
        "analyze user": "Ratings vary by item.",
        "analyze item": f"Quality {quality_word(row)}: {text}",
        "match": text,
        "rate": text,
    }
    return "\n".join(f"{open_tag(name)}{body}{close_tag(name)}" for name, body in sections.items())


def write_traces(train: Path, out: Path, settings: Settings, seed: int) -> tuple[Path, Path]:
    """``sft_train.parquet`` / ``sft_val.parquet`` in the layout of ``reczero-verl coldstart`` (32 rows held out)."""
    import pandas as pd

    from reczero_verl.coldstart.export import SFT_TRAIN_NAME, SFT_VAL_NAME, split_train_val, write_parquet_atomic

    frame = pd.read_parquet(train)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(frame)), min(settings.sft_traces, len(frame))))
    rows = []
    for index in chosen:
        row = frame.iloc[index]
        extra = row["extra_info"]
        rating = teacher_rating(float(row["reward_model"]["ground_truth"]), settings.teacher_extreme_rate, rng)
        rows.append(
            {
                "messages": [*[dict(m) for m in row["prompt"]], {"role": "assistant", "content": trace(row, rating)}],
                "data_source": row["data_source"],
                "extra_info": {
                    "index": int(index),
                    "split": None,
                    "user_id": str(extra["user_id"]),
                    "item_id": str(extra["item_id"]),
                    "timestamp": int(extra["timestamp"]),
                    "rating_min": float(extra["rating_min"]),
                    "rating_max": float(extra["rating_max"]),
                    "ground_truth": float(row["reward_model"]["ground_truth"]),
                    "origin": "direct",
                    "teacher": "bench_learning.hedging_teacher",
                },
            }
        )
    train_rows, val_rows = split_train_val(rows, 32 / len(rows), seed)
    out.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(train_rows, out / SFT_TRAIN_NAME)
    write_parquet_atomic(val_rows, out / SFT_VAL_NAME)
    return out / SFT_TRAIN_NAME, out / SFT_VAL_NAME


def build_model(train: Path, traces: Path, out: Path, settings: Settings, seed: int) -> Path:
    """The tiny Qwen2 with a tokenizer trained on the training prompts and the traces; random weights."""
    import pandas as pd

    from reczero_verl.cpu.tiny_model import TinyModelSpec, build_tiny_model

    texts = [list(p) for p in pd.read_parquet(train)["prompt"]]
    texts += [list(m) for m in pd.read_parquet(traces)["messages"]]
    spec = TinyModelSpec(
        hidden_size=settings.hidden_size,
        intermediate_size=2 * settings.hidden_size,
        num_hidden_layers=settings.num_layers,
        num_attention_heads=settings.num_heads,
        num_key_value_heads=settings.num_heads,
    )
    return build_tiny_model(out, texts, seed=seed, spec=spec)


# ---- running verl ----------------------------------------------------------------------------------------------------


def child_env(extra: dict[str, str], threads: int = 1) -> dict[str, str]:
    """This process's environment plus the CPU backend's, this repository first on the path, and ``extra``."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "VERL_PLATFORM": "cpu",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        **extra,
    }


def run_logged(command: list[str], env: dict[str, str], log: Path) -> float:
    """Run ``command`` with its output in ``log``; its wall seconds. Raises naming the log when it fails."""
    began = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.run(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO).returncode
    seconds = time.perf_counter() - began
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{command[:4]} failed with exit code {code}; see {log}:\n{tail}")
    return seconds


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def metrics_by_step(path: Path) -> dict[int, dict[str, Any]]:
    """verl's file logger: one ``{"step": N, "data": {...}}`` line per logging call, merged per step."""
    steps: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        steps.setdefault(int(record["step"]), {}).update(record["data"])
    return steps


def val_figures(data: dict[str, Any]) -> dict[str, float]:
    """Validation reward, format rate and MAE of the held-out prompts from one step's logged metrics."""
    return {name: float(data[f"val-aux/{SOURCE}/{name}/mean@1"]) for name in FIGURES}


def main_ppo_command(recipe: str, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "verl.trainer.main_ppo", "--config-dir", str(RECIPES), "--config-name", recipe,
            *overrides]  # fmt: skip


def ppo_overrides(data_dir: Path, out: Path, settings: Settings, seed: int, steps: int) -> list[str]:
    """The CPU overlay (as the quickstart runs it) at this benchmark's sizes; the later keys win."""
    batch = settings.grpo_prompts * settings.rollout_n
    return [
        *quickstart.data_overrides(data_dir),
        *quickstart.cpu_overrides(max(steps, 1)),
        f"trainer.default_local_dir={out / 'checkpoints'}",
        f"data.train_batch_size={settings.grpo_prompts}",
        f"data.seed={seed}",
        f"data.val_max_samples={settings.val_prompts}",
        f"data.max_response_length={settings.response_length}",
        f"actor_rollout_ref.rollout.n={settings.rollout_n}",
        f"actor_rollout_ref.rollout.temperature={settings.temperature}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={settings.grpo_prompts}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={batch}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={batch}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={batch}",
        f"actor_rollout_ref.actor.optim.lr={settings.grpo_lr}",
        f"actor_rollout_ref.actor.optim.lr_warmup_steps={settings.grpo_warmup_steps}",
        f"actor_rollout_ref.actor.use_kl_loss={str(settings.kl_loss).lower()}",
        f"algorithm.norm_adv_by_std_in_grpo={str(settings.norm_adv_by_std).lower()}",
        "actor_rollout_ref.model.enable_gradient_checkpointing=false",
        # Padded batches: with remove-padding the batch is one packed row, whose sdpa attention on CPU costs
        # (sum of lengths)^2 instead of the sum of length^2 (measured: 16 x 340 tokens, 3.5 s against 0.4 s).
        "actor_rollout_ref.model.use_remove_padding=false",
        "trainer.save_freq=-1",
        "trainer.val_before_train=true",
    ]


@dataclass
class SeedResult:
    seed: int
    figures: dict[str, dict[str, float]]
    seconds: dict[str, float]
    grpo_scores: list[float]
    sft_losses: list[float]


def run_seed(seed: int, data_dir: Path, workdir: Path, settings: Settings) -> SeedResult:
    """One seed: model, before-SFT validation, SFT, GRPO (with its validations before and after)."""
    root = workdir / f"seed{seed}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    sft_train, sft_val = write_traces(data_dir / "train.parquet", root / "coldstart", settings, seed)
    base = build_model(data_dir / "train.parquet", sft_train, root / "tiny_model", settings, seed)
    seconds["model"] = time.perf_counter() - began

    # Before SFT: verl's validation of the base model, nothing else.
    metrics = root / "base_metrics.jsonl"
    command = main_ppo_command(BASE_RECIPE, [
        *ppo_overrides(data_dir, root / "base", settings, seed, 1),
        f"actor_rollout_ref.model.path={base}",
        "trainer.val_only=true",
        # Validation never uses the reference model: not loading it only saves start-up time.
        "actor_rollout_ref.actor.use_kl_loss=false",
    ])  # fmt: skip
    env = child_env({"VERL_FILE_LOGGER_PATH": str(metrics)}, settings.threads)
    seconds["before_sft_validation"] = run_logged(command, env, root / "base.log")
    figures = {"before_sft": val_figures(metrics_by_step(metrics)[0])}
    logger.info("seed %d before SFT: %s (%.0f s)", seed, figures["before_sft"], seconds["before_sft_validation"])

    # SFT through verl's SFT trainer.
    sft_dir, metrics = root / "sft", root / "sft_metrics.jsonl"
    epochs = math.ceil(settings.sft_steps * settings.sft_batch / parquet_rows(sft_train))
    command = [
        "torchrun", "--standalone", "--nnodes=1", "--nproc_per_node=1", "-m", "verl.trainer.sft_trainer",
        "--config-dir", str(RECIPES), "--config-name", SFT_RECIPE, "+platform=cpu_sft", f"model.path={base}",
        f"data.train_files={sft_train}", f"data.val_files={sft_val}", f"trainer.default_local_dir={sft_dir}",
        f"data.train_batch_size={settings.sft_batch}", f"trainer.total_training_steps={settings.sft_steps}",
        f"trainer.total_epochs={epochs}", f"optim.lr={settings.sft_lr}", f"trainer.seed={seed}",
        "trainer.save_freq=-1", "trainer.test_freq=-1", "model.enable_gradient_checkpointing=false",
        "model.use_remove_padding=false",
        "trainer.logger=[console,file]",
    ]  # fmt: skip
    env = child_env({"VERL_FILE_LOGGER_PATH": str(metrics)}, settings.threads)
    seconds["sft"] = run_logged(command, env, root / "sft.log")
    sft_steps = metrics_by_step(metrics)
    sft_losses = [float(sft_steps[s]["train/loss"]) for s in sorted(sft_steps) if "train/loss" in sft_steps[s]]
    sft_hf = sft_dir / f"global_step_{settings.sft_steps}" / "huggingface"
    if not (sft_hf / "config.json").is_file():
        raise RuntimeError(f"the SFT run wrote no Hugging Face copy at {sft_hf}")

    # GRPO from the SFT checkpoint; verl validates before step 1 (after SFT) and after the last step.
    metrics = root / "grpo_metrics.jsonl"
    command = main_ppo_command(GRPO_RECIPE, ppo_overrides(data_dir, root / "grpo", settings, seed, settings.grpo_steps))
    env = child_env({"VERL_FILE_LOGGER_PATH": str(metrics), "RECONE_SFT_MODEL": str(sft_hf)}, settings.threads)
    seconds["grpo"] = run_logged(command, env, root / "grpo.log")
    steps = metrics_by_step(metrics)
    figures["after_sft"] = val_figures(steps[0])
    figures["after_grpo"] = val_figures(steps[settings.grpo_steps])
    grpo_scores = [float(steps[s]["critic/score/mean"]) for s in sorted(steps) if "critic/score/mean" in steps[s]]
    seconds["total"] = time.perf_counter() - began
    logger.info("seed %d after SFT: %s; after GRPO: %s", seed, figures["after_sft"], figures["after_grpo"])
    return SeedResult(seed, figures, seconds, grpo_scores, sft_losses)


# ---- report --------------------------------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summary(results: Sequence[SeedResult]) -> dict[str, dict[str, dict[str, float]]]:
    """``{point: {figure: {"mean", "std"}}}`` over the seeds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for point in POINTS:
        out[point] = {}
        for name in FIGURES:
            mean, std = spread([r.figures[point][name] for r in results])
            out[point][name] = {"mean": mean, "std": std}
    return out


#: Row labels of the printed table.
LABELS = {"reward": "reward", "format_ok": "format rate", "abs_error": "MAE"}
PHASES = ("model", "before_sft_validation", "sft", "grpo", "total")


def table(results: Sequence[SeedResult]) -> str:
    """The printed table: each figure per seed and mean +- sd over the seeds, then wall times per phase."""
    seeds = "".join(f"{'seed ' + str(r.seed):>10}" for r in results)
    lines = [
        f"held-out prompts: {SOURCE} test split, greedy (verl's validation); {len(results)} seed(s)",
        f"{'point':<12}{'figure':<13}{seeds}{'mean +- sd':>20}",
    ]
    for point in POINTS:
        for name in FIGURES:
            values = [r.figures[point][name] for r in results]
            mean, std = spread(values)
            cells = "".join(f"{v:>10.3f}" for v in values)
            lines.append(f"{point:<12}{LABELS[name]:<13}{cells}{f'{mean:.3f} +- {std:.3f}':>20}")
    lines.append("")
    lines.append(f"{'wall time (s)':<25}{seeds}{'mean':>10}{'sum':>10}")
    for phase in PHASES:
        values = [r.seconds[phase] for r in results]
        cells = "".join(f"{v:>10.0f}" for v in values)
        lines.append(f"{phase:<25}{cells}{statistics.fmean(values):>10.0f}{sum(values):>10.0f}")
    return "\n".join(lines)


def git_commit() -> str | None:
    """The repository's HEAD commit (with ``-dirty`` when the work tree has changes), None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_learning"))
    parser.add_argument("--json-out", type=Path, default=None, help="write every figure here")
    for field, default in asdict(Settings()).items():
        flag = "--" + field.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes", "on"), default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    args = parser.parse_args(argv)
    settings = Settings(**{f: getattr(args, f) for f in asdict(Settings())})
    return args, settings


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args, settings = parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    logger.info("code %s, load average %.2f %.2f %.2f, %s", git_commit(), *load_before, settings)
    began = time.perf_counter()
    reviews, meta = write_dump(workdir / "dump", settings)
    data_dir = workdir / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    prepare(reviews, meta, data_dir, settings, workdir / "prepare.log")
    data_seconds = time.perf_counter() - began
    logger.info("data prepared in %.1f s: %s", data_seconds, data_dir)
    results = [run_seed(seed, data_dir, workdir, settings) for seed in args.seeds]
    wall = time.perf_counter() - began
    sys.stdout.write(table(results) + "\n")
    sys.stdout.write(f"whole run: {wall:.0f} s ({wall / 60:.1f} min), data {data_seconds:.0f} s; load average "
                     f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n")  # fmt: skip
    if args.json_out:
        report = {
            "command": [sys.executable, *sys.argv],
            "commit": git_commit(),
            "settings": asdict(settings),
            "data_source": SOURCE,
            "data_seconds": data_seconds,
            "wall_seconds": wall,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "seeds": [asdict(r) for r in results],
            "summary": summary(results),
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
