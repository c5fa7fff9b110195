# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl quickstart``: the main job, from the bundled sample to verl's GRPO trainer in one command.

Steps, each one done for real on any machine:

1. **prepare**: ``reczero-verl prepare amazon`` on the bundled synthetic sample (Amazon Review Data 2018 format,
   ``reczero_verl/sample_data``) into ``OUTPUT_DIR/data`` (train/test parquet + ``stats.json``);
2. **resolve**: compose the 1-GPU RecZero recipe (``recipes/reczero_qwen2.5-0.5b-instruct_1gpu.yaml``) with the data
   paths, the model, the checkpoint folder and the user's overrides through verl's own entry point
   (``python -m verl.trainer.main_ppo ... --cfg job``), save it as ``OUTPUT_DIR/resolved_config.yaml``, then check it
   as verl would at start-up (value types against verl's defaults, ``validate_config``, the files it names, at least
   one batch of training data);
3. **train** with ``python -m verl.trainer.main_ppo`` and exactly the resolved arguments:

   * on a machine with a CUDA GPU and vLLM, this process is replaced by verl's trainer (its logs, exit code and signals
     then belong to verl);
   * on a machine without a GPU (or with ``--backend cpu``), verl's trainer runs on the CPU backend
     (:mod:`reczero_verl.cpu`): a few GRPO steps with small batches, a progress line per step, then where the
     checkpoint and metrics are and the command that trains for real on a GPU. Without ``--model`` it uses a tiny
     model built on the spot (:mod:`reczero_verl.cpu.tiny_model`): a CPU run proves the machinery, not model quality.

Exit codes: 0 done (trained, or dry run), 1 a step failed (the message says which and why), 3 under
``--require-gpu`` on a machine that cannot train on a GPU. Re-running the same command resumes from the newest
checkpoint (the recipe sets ``trainer.resume_mode=auto``); raise ``--steps`` to train further on CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import math
import os
import re
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from reczero_verl.errors import ReczeroError
from reczero_verl.sample_data import VOCABULARY_FILE

logger = logging.getLogger(__name__)

#: The quickstart recipe, relative to the recipes folder.
DEFAULT_RECIPE = Path("reczero_qwen2.5-0.5b-instruct_1gpu.yaml")
DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
DEFAULT_OUTPUT_DIR = Path("outputs") / "quickstart"
#: ``data_source`` of the prepared sample is ``reczero/<this>``; validation metrics are grouped by it.
SAMPLE_NAME = "amazon_sample"
#: How to get what GPU training needs, in the sentence printed on a machine without it.
GPU_INSTALL_HINT = 'pip install -e ".[gpu]"'
BACKENDS = ("auto", "gpu", "cpu")
#: GRPO steps of a CPU run unless ``--steps`` says otherwise.
DEFAULT_CPU_STEPS = 4
#: Steps that teach the default tiny model the answer format (about 15 s on 2 cores); see tiny_model.py.
TINY_MODEL_ANSWER_STEPS = 300

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_GPU = 3


class QuickstartError(ReczeroError):
    """A step of the quickstart failed; the message says which step and why (no stack trace is shown)."""


@dataclass(frozen=True)
class QuickstartOptions:
    """What ``reczero-verl quickstart`` takes; see :func:`configure_parser` for each option."""

    output_dir: Path = DEFAULT_OUTPUT_DIR
    model: str | None = None
    recipe: str | None = None
    recipes_dir: Path | None = None
    backend: str = "auto"
    steps: int = DEFAULT_CPU_STEPS
    dry_run: bool = False
    require_gpu: bool = False
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything the quickstart decided before launching: paths, the recipe, the overrides and the environment."""

    output_dir: Path
    data_dir: Path
    recipe: Path
    recipes_root: Path
    overrides: tuple[str, ...]
    #: ``gpu`` or ``cpu``: where verl's trainer runs.
    backend: str = "gpu"
    #: Environment variables the trainer needs on top of this process's (the CPU backend's selector...).
    env: Mapping[str, str] = field(default_factory=dict)

    def train_command(self, python: str = sys.executable) -> list[str]:
        """The exact ``main_ppo`` command line that trains (the resolve step runs it with ``--cfg job``).

        ``--config-dir`` adds the recipe's folder to verl's own config search path; a recipe outside ``recipes/``
        also gets ``recipes/`` on the path, so that ``+ablations=<name>`` and ``+platform=cpu`` resolve.
        """
        search = [] if self.recipe.parent == self.recipes_root else [f"hydra.searchpath=[file://{self.recipes_root}]"]
        return [
            python,
            "-m",
            "verl.trainer.main_ppo",
            "--config-dir",
            str(self.recipe.parent),
            "--config-name",
            self.recipe.stem,
            *search,
            *self.overrides,
        ]

    def shell_command(self) -> str:
        """:meth:`train_command` as one shell line, with the environment it needs in front."""
        prefix = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.env.items())
        return f"{prefix} {shlex.join(self.train_command())}".strip()

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    @property
    def metrics_path(self) -> Path:
        """verl's file logger writes one JSON line of metrics per step here (CPU runs)."""
        return self.output_dir / "logs" / "metrics.jsonl"

    @property
    def log_path(self) -> Path:
        """Everything verl printed during a CPU run."""
        return self.output_dir / "logs" / "train.log"


def package_root() -> Path:
    """The folder holding the ``reczero_verl`` package (the repository root for a clone or an editable install)."""
    return Path(__file__).resolve().parent.parent


def default_recipes_root() -> Path:
    """``recipes/`` beside the package (a clone or an editable install has it)."""
    return package_root() / "recipes"


def sample_dir() -> Path:
    """The bundled synthetic sample shipped inside the package."""
    return Path(__file__).resolve().parent / "sample_data"


def find_sample_files(folder: Path) -> tuple[Path, Path | None]:
    """Return ``(reviews, meta)`` of the bundled sample in ``folder``; ``meta`` is None when absent.

    The sample is a reviews file and a meta file in the Amazon Review Data (2018) JSON-lines format, recognised by
    ``meta`` in the file name (plain or gzip); the generator's word lists (``vocabulary.json``) beside them are not.
    """
    if not folder.is_dir():
        raise QuickstartError(f"the bundled sample folder {folder} is missing (a broken install?)")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.endswith((".json", ".jsonl", ".gz")) and p.name != VOCABULARY_FILE
    )
    meta = [p for p in files if "meta" in p.name.lower()]
    reviews = [p for p in files if p not in meta]
    if len(reviews) != 1 or len(meta) > 1:
        raise QuickstartError(
            f"expected one reviews file and at most one meta file in {folder}, found {[p.name for p in files]}"
        )
    return reviews[0], (meta[0] if meta else None)


def resolve_recipe(recipe: str | None, recipes_root: Path) -> Path:
    """The recipe YAML to run: ``--recipe`` (a path, or a name relative to ``recipes/``) or the quickstart default."""
    if recipe is None:
        path = recipes_root / DEFAULT_RECIPE
    else:
        # Recipe names contain dots (qwen2.5-...): add ".yaml" by name, never with Path.with_suffix.
        path = Path(recipe if recipe.endswith((".yaml", ".yml")) else f"{recipe}.yaml")
        if not path.is_file() and (recipes_root / path).is_file():
            path = recipes_root / path
    if not path.is_file():
        raise QuickstartError(
            f"recipe {path} not found: run from a clone of the repository (recipes/ beside the package) or pass "
            "--recipe PATH.yaml and --recipes-dir DIR"
        )
    return path.resolve()


def prepare_sample(data_dir: Path) -> None:
    """Step 1: ``reczero-verl prepare amazon`` on the bundled sample, in-process, into ``data_dir``."""
    from reczero_verl.prepare.cli import PrepareError, run_prepare

    reviews, meta = find_sample_files(sample_dir())
    argv = ["amazon", "--reviews", str(reviews), "--output-dir", str(data_dir), "--name", SAMPLE_NAME]
    if meta is not None:
        argv[3:3] = ["--meta", str(meta)]
    logger.info("step 1/3 prepare: reczero-verl prepare %s", shlex.join(argv))
    try:
        run_prepare(argv)
    except (PrepareError, SystemExit) as exc:
        raise QuickstartError(f"preparing the bundled sample into {data_dir} failed: {exc}") from None


def hydra_value(text: str) -> str:
    """``text`` as a Hydra override value: as is when plain, else single-quoted (spaces, commas, brackets...)."""
    if re.fullmatch(r"[\w./+:@-]+", text):
        return text
    # Inside Hydra's quotes only a quote and the backslashes right before a quote (or the end) need escaping.
    doubled = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)
    return "'" + doubled.replace("'", "\\'") + "'"


def data_overrides(data_dir: Path) -> list[str]:
    """``data.train_files`` / ``data.val_files`` for the prepared sample (prepare writes train and test by default)."""
    train = hydra_value(str(data_dir / "train.parquet"))
    test = hydra_value(str(data_dir / "test.parquet"))
    return [f"data.train_files={train}", f"data.val_files={test}"]


def has_cuda_gpu() -> bool:
    """True when torch sees a CUDA GPU here."""
    import torch

    return torch.cuda.is_available()


def choose_backend(requested: str) -> str:
    """``gpu`` or ``cpu``: ``auto`` takes the GPU when torch sees one."""
    if requested not in BACKENDS:
        raise QuickstartError(f"--backend must be one of {BACKENDS}, not {requested!r}")
    if requested == "auto":
        return "gpu" if has_cuda_gpu() else "cpu"
    return requested


def cpu_overrides(steps: int) -> list[str]:
    """The CPU overlay and small sizes: ``steps`` GRPO steps of 4 prompts x 4 responses of up to 64 tokens,
    validation on 16 test prompts before training and after the last step, a checkpoint at the last step."""
    return [
        "+platform=cpu",
        "data.train_batch_size=4",
        "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "data.max_prompt_length=1024",
        "data.max_response_length=64",
        "data.val_max_samples=16",
        "data.dataloader_num_workers=0",
        f"trainer.total_training_steps={steps}",
        f"trainer.test_freq={steps}",
        f"trainer.save_freq={steps}",
        "trainer.logger=[console,file]",
    ]


def cpu_env(plan_output_dir: Path) -> dict[str, str]:
    """What the trainer's environment needs on the CPU backend: the platform selector and the metrics file."""
    from reczero_verl import cpu

    return {
        cpu.ENV_VAR: cpu.PLATFORM_NAME,
        "VERL_FILE_LOGGER_PATH": str(plan_output_dir / "logs" / "metrics.jsonl"),
        "TOKENIZERS_PARALLELISM": "false",
    }


def build_plan(options: QuickstartOptions, model: str | None = None) -> Plan:
    """Decide paths, backend and overrides; the user's overrides come last so they win.

    ``model`` replaces ``options.model`` (the CPU run's tiny model, known only after the data is prepared).
    """
    output_dir = Path(options.output_dir).resolve()
    data_dir = output_dir / "data"
    recipes_root = Path(options.recipes_dir).resolve() if options.recipes_dir else default_recipes_root()
    recipe = resolve_recipe(options.recipe, recipes_root)
    backend = choose_backend(options.backend)
    if options.steps < 1:
        raise QuickstartError(f"--steps must be at least 1, not {options.steps}")
    # --model defaults to Qwen2.5-0.5B-Instruct for the quickstart recipe only; another recipe keeps its own model
    # (a RecOne GRPO recipe must not silently fall back to a base model).
    model = model or options.model or (DEFAULT_MODEL if options.recipe is None else None)
    overrides = [
        *data_overrides(data_dir),
        *([f"actor_rollout_ref.model.path={hydra_value(model)}"] if model else []),
        f"trainer.default_local_dir={hydra_value(str(output_dir / 'checkpoints'))}",
        *(cpu_overrides(options.steps) if backend == "cpu" else []),
        *options.overrides,
    ]
    env = cpu_env(output_dir) if backend == "cpu" else {}
    return Plan(output_dir, data_dir, recipe, recipes_root, tuple(overrides), backend, env)


def resolve_config(plan: Plan) -> str:
    """Step 2a: ``main_ppo ... --cfg job`` in a subprocess (verl's own Hydra composition); returns the YAML.

    While verl starts up in the subprocess, this process imports what step 2b needs, so the two start-ups overlap.
    """
    command = [*plan.train_command(), "--cfg", "job"]
    logger.info("step 2/3 resolve: %s", shlex.join(command))
    env = {**os.environ, **plan.env}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        _import_checks()
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise QuickstartError(
            f"verl could not compose the recipe {plan.recipe} (exit code {process.returncode}):\n{tail}"
        )
    return stdout


def _import_checks() -> None:
    """Import verl's config validation (the slow part of step 2b: verl's package start-up)."""
    import verl.trainer.ppo.utils  # noqa: F401
    import verl.utils.config  # noqa: F401


def _verl_defaults():
    """verl's own ``ppo_trainer`` config, composed from the installed package (the types verl expects)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="verl.trainer.config", version_base=None):
            return compose(config_name="ppo_trainer")
    finally:
        GlobalHydra.instance().clear()


def type_errors(cfg: Any, defaults: Any, prefix: str = "") -> list[str]:
    """Keys whose resolved value cannot be what verl's default of that key is (a number, a boolean).

    ``trainer.total_epochs=abc`` composes (Hydra does not type-check a plain YAML recipe) and only fails deep inside
    the trainer; this finds it before anything starts. Interpolations are compared after resolution.
    """
    from omegaconf import DictConfig, OmegaConf

    problems = []
    if not isinstance(cfg, DictConfig) or not isinstance(defaults, DictConfig):
        return problems
    for key in defaults:
        if key not in cfg:
            continue
        path = f"{prefix}{key}"
        try:
            default = OmegaConf.select(defaults, str(key), throw_on_missing=False)
            value = OmegaConf.select(cfg, str(key), throw_on_missing=False)
        except Exception:  # an interpolation of verl's defaults that needs the full config: nothing to compare
            continue
        if isinstance(default, DictConfig):
            problems.extend(type_errors(value, default, f"{path}."))
        elif isinstance(default, bool):
            if not isinstance(value, bool) and value is not None:
                problems.append(f"{path}={value!r} (verl expects true or false)")
        elif isinstance(default, int | float) and value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{path}={value!r} (verl expects a number)")
    return problems


def check_resolved(yaml_text: str) -> list[str]:
    """Step 2b: the resolved config checked as verl would at start-up, plus the files it names and the batch size.

    Returns human-readable facts for the summary. Raises :class:`QuickstartError` naming the first problem.
    """
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(yaml_text)
    wrong = type_errors(cfg, _verl_defaults())
    if wrong:
        raise QuickstartError("values verl would reject: " + "; ".join(wrong))
    facts = []
    for key in ("data.train_files", "data.val_files"):
        value = OmegaConf.select(cfg, key)
        files = list(value) if OmegaConf.is_list(value) else [value]
        for path in files:
            if not Path(str(path)).expanduser().is_file():
                raise QuickstartError(f"{key} names {path}, which does not exist")
    model_path = Path(str(cfg.actor_rollout_ref.model.path)).expanduser()
    if model_path.is_absolute() or model_path.exists():
        if not model_path.is_dir():
            raise QuickstartError(f"actor_rollout_ref.model.path={model_path} is not a model folder")
    rows = _count_rows(cfg.data.train_files)
    if rows < cfg.data.train_batch_size:
        raise QuickstartError(
            f"the training files hold {rows} rows, fewer than data.train_batch_size={cfg.data.train_batch_size}: "
            "verl would train zero steps (lower data.train_batch_size)"
        )
    facts.append(f"{rows} training rows, {rows // cfg.data.train_batch_size} steps per epoch")

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    printed = io.StringIO()
    try:
        # verl prints its verdict and warns that GRPO disables the critic: keep our summary to the point.
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    except (AssertionError, ValueError, TypeError) as exc:
        raise QuickstartError(f"verl's validate_config rejected the resolved config: {exc}") from None
    finally:
        logger.debug("validate_config output: %s", printed.getvalue().strip())
    facts.append("verl validate_config passed")
    return facts


def _count_rows(files: object) -> int:
    """Rows in one parquet file or a list of them (read from the footers only)."""
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf

    paths = list(files) if OmegaConf.is_list(files) or isinstance(files, list | tuple) else [files]
    total = 0
    for path in paths:
        try:
            total += pq.ParquetFile(Path(str(path)).expanduser()).metadata.num_rows
        except (OSError, ValueError) as exc:
            raise QuickstartError(f"cannot read the training file {path}: {exc}") from None
    return total


def missing_for_gpu_training() -> list[str]:
    """What GRPO on a GPU needs and this machine lacks: ``"CUDA GPU"``, ``"vLLM"`` (empty: ready to train)."""
    missing = [] if has_cuda_gpu() else ["CUDA GPU"]
    if importlib.util.find_spec("vllm") is None:
        missing.append("vLLM")
    return missing


def no_gpu_sentence(missing: Sequence[str]) -> str:
    """The one sentence printed when GPU training cannot start here."""
    lacks = "neither a CUDA GPU nor vLLM" if len(missing) > 1 else f"no {missing[0]}"
    return (
        f"Data and config are ready, but GRPO on a GPU needs a CUDA GPU and vLLM, and this machine has {lacks}: "
        f"on a machine with an NVIDIA GPU, install them with `{GPU_INSTALL_HINT}` and run this command again."
    )


def launch(command: Sequence[str]) -> None:
    """Replace this process by verl's trainer (its logs, exit code and signals then belong to verl)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(command[0], list(command))


# ---- the CPU run ---------------------------------------------------------------------------------------------------


def tiny_model_for(output_dir: Path, data_dir: Path) -> Path:
    """The default model of a CPU run: ``OUTPUT_DIR/tiny_model``, built once from the prepared training prompts."""
    import pandas as pd

    from reczero_verl.contract import prompt_messages
    from reczero_verl.cpu.tiny_model import build_tiny_model

    folder = output_dir / "tiny_model"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder  # a rerun resumes on the same model
    frame = pd.read_parquet(data_dir / "train.parquet", columns=["prompt"])
    prompts = [prompt_messages(row) for row in frame["prompt"]]
    build_tiny_model(folder, prompts, seed=0, answer_steps=TINY_MODEL_ANSWER_STEPS)
    return folder


def _fmt(value: Any, digits: int = 3) -> str:
    return "n/a" if not isinstance(value, int | float) or not math.isfinite(value) else f"{value:.{digits}f}"


#: verl's validation metric names: ``val-core|val-aux/<data_source>/<reward key>/mean@1``.
_VALIDATION_KEY = re.compile(r"val-(?:core|aux)/(?P<source>.+)/(?P<name>[^/]+)/mean@1")


def progress_line(step: int, total: int, metrics: Mapping[str, Any]) -> list[str]:
    """Human lines for one step of verl's logged metrics: the training step, and validation when it ran."""
    lines = []
    if "critic/score/mean" in metrics:
        lines.append(
            f"step {step}/{total}: reward {_fmt(metrics['critic/score/mean'])}, "
            f"pg_loss {_fmt(metrics.get('actor/pg_loss'), 4)}, grad_norm {_fmt(metrics.get('actor/grad_norm'), 4)}, "
            f"response length {_fmt(metrics.get('response_length/mean'), 1)}, "
            f"{_fmt(metrics.get('timing_s/step'), 1)} s"
        )
    by_source: dict[str, dict[str, Any]] = {}
    for key, value in metrics.items():
        match = _VALIDATION_KEY.fullmatch(key)
        if match:
            by_source.setdefault(match["source"], {})[match["name"]] = value
    for source, value in sorted(by_source.items()):
        sq_error = value.get("sq_error")
        rmse = math.sqrt(sq_error) if isinstance(sq_error, int | float) and sq_error >= 0 else None
        lines.append(
            f"validation at step {step} ({source}): MAE {_fmt(value.get('abs_error'))}, RMSE {_fmt(rmse)}, "
            f"format {_fmt(value.get('format_ok'))}, parsed {_fmt(value.get('parsed'))}"
        )
    return lines


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """verl's file-logger lines ``{"step": N, "data": {...}}``; a torn last line (a run in progress) is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def run_cpu_training(plan: Plan, steps: int, out: TextIO | None = None, poll_s: float = 1.0) -> int:
    """Run verl's trainer on the CPU backend as a subprocess; a progress line per step; returns its exit code."""
    out = out or sys.stdout
    plan.metrics_path.parent.mkdir(parents=True, exist_ok=True)
    plan.metrics_path.unlink(missing_ok=True)  # verl's file logger starts a new file per run
    env = {**os.environ, **plan.env}
    shown = 0
    started = time.monotonic()
    with plan.log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(plan.train_command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        while True:
            code = process.poll()
            records = read_metrics(plan.metrics_path)
            for record in records[shown:]:
                for line in progress_line(int(record["step"]), steps, record.get("data", {})):
                    out.write(line + "\n")
                out.flush()
            shown = len(records)
            if code is not None:
                break
            time.sleep(poll_s)
    logger.info("verl's trainer exited with code %d after %.0f s", code, time.monotonic() - started)
    return code


def cpu_summary(plan: Plan, model_note: str | None) -> str:
    """Where the CPU run's products are, and the one command that trains for real on a GPU."""
    lines = [
        f"checkpoints: {plan.checkpoint_dir} (global_step_N/actor/huggingface is a Hugging Face model folder)",
        f"metrics per step: {plan.metrics_path}",
        f"validation generations: {plan.checkpoint_dir / 'validation_generations'}",
        f"trainer log: {plan.log_path}",
    ]
    if model_note:
        lines.append(model_note)
    lines.append(
        "To train for real, on a machine with an NVIDIA GPU: "
        f"{GPU_INSTALL_HINT} && reczero-verl quickstart --backend gpu --model {DEFAULT_MODEL}"
    )
    return "\n".join(lines) + "\n"


# ---- command line --------------------------------------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``reczero-verl quickstart``."""
    parser.add_argument(
        "--output-dir",
        default=str(DEFAULT_OUTPUT_DIR),
        help="folder for data/, resolved_config.yaml, checkpoints/ and logs/ (default: %(default)s)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"Hugging Face id or local folder of the policy (default: {DEFAULT_MODEL} on a GPU with the quickstart "
        "recipe, a tiny model built on the spot on CPU, the recipe's own model with --recipe)",
    )
    parser.add_argument(
        "--recipe",
        default=None,
        help=f"recipe YAML, a path or a name under the recipes folder (default: {DEFAULT_RECIPE.with_suffix('')})",
    )
    parser.add_argument(
        "--recipes-dir", default=None, help="the recipes folder (default: recipes/ beside the installed package)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="where verl's trainer runs: gpu (vLLM rollout), cpu (the CPU backend), auto: gpu when torch sees a "
        "CUDA GPU, else cpu (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=DEFAULT_CPU_STEPS,
        help="GRPO steps of a CPU run; rerun with a larger number to resume and train further (default: %(default)s)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="prepare and resolve, print the training command, do not train"
    )
    parser.add_argument(
        "--require-gpu",
        action="store_true",
        help=f"exit with code {EXIT_NO_GPU} instead of training on CPU when there is no CUDA GPU or no vLLM",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="Hydra overrides passed to verl after the quickstart's own (e.g. trainer.total_epochs=1 "
        "+ablations=format_only)",
    )


def options_from_args(args: argparse.Namespace) -> QuickstartOptions:
    """The typed options of a parsed command line."""
    return QuickstartOptions(
        output_dir=Path(args.output_dir),
        model=args.model,
        recipe=args.recipe,
        recipes_dir=Path(args.recipes_dir) if args.recipes_dir else None,
        backend=args.backend,
        steps=args.steps,
        dry_run=args.dry_run,
        require_gpu=args.require_gpu,
        overrides=tuple(args.overrides),
    )


def run_quickstart(options: QuickstartOptions, out: TextIO | None = None) -> int:
    """Run the quickstart; see the module docstring for the steps and exit codes (``out``: default stdout)."""
    out = out or sys.stdout
    plan = build_plan(options)
    if options.require_gpu and plan.backend == "gpu" and not options.dry_run:
        missing = missing_for_gpu_training()
        if missing:
            out.write(no_gpu_sentence(missing) + "\n")
            return EXIT_NO_GPU
    if options.require_gpu and plan.backend == "cpu":
        out.write(no_gpu_sentence(missing_for_gpu_training() or ["CUDA GPU"]) + "\n")
        return EXIT_NO_GPU
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    prepare_sample(plan.data_dir)
    model_note = None
    if plan.backend == "cpu" and options.model is None and options.recipe is None:
        model = tiny_model_for(plan.output_dir, plan.data_dir)
        model_note = (
            f"model: no --model given and no GPU, so this run used a tiny 2-layer Qwen2-architecture model built here "
            f"({model}), taught only the shape of a TbR answer with random ratings: a CPU run proves the machinery "
            "(rollout, reward, GRPO update, weight sync, validation, checkpoint), not model quality."
        )
        out.write(model_note + "\n")
        plan = build_plan(options, model=str(model))
    yaml_text = resolve_config(plan)
    resolved = plan.output_dir / "resolved_config.yaml"
    resolved.write_text(yaml_text, encoding="utf-8")
    facts = check_resolved(yaml_text)

    out.write(f"data: {plan.data_dir}\nresolved config: {resolved} ({'; '.join(facts)})\n")
    out.write(f"training command ({plan.backend}):\n  {plan.shell_command()}\n")
    if options.dry_run:
        out.write("dry run: not training.\n")
        return EXIT_OK
    if plan.backend == "gpu":
        missing = missing_for_gpu_training()
        if missing:
            out.write(no_gpu_sentence(missing) + "\n")
            return EXIT_OK
        logger.info("step 3/3 train: starting verl's GRPO trainer")
        launch(plan.train_command())
        return EXIT_OK  # only reached when launch is replaced (tests)
    logger.info(
        "step 3/3 train: verl's GRPO trainer on the CPU backend, %d steps (log: %s)", options.steps, plan.log_path
    )
    code = run_cpu_training(plan, options.steps, out)
    if code != 0:
        tail = "\n".join(plan.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:])
        raise QuickstartError(f"verl's trainer failed (exit code {code}); last lines of {plan.log_path}:\n{tail}")
    out.write(cpu_summary(plan, model_note))
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    """Entry point of ``reczero-verl quickstart``."""
    return run_quickstart(options_from_args(args))
