# Copyright 2026 The reczero-verl Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""``reczero-verl quickstart``: the main job, from the bundled sample to verl's GRPO trainer in one command.

Steps, each one done for real on any machine:

1. **prepare**: run ``reczero-verl prepare amazon`` on the bundled synthetic sample (Amazon Review Data 2018 format,
   ``reczero_verl/sample_data``) into ``OUTPUT_DIR/data`` (train/test parquet + ``stats.json``);
2. **resolve**: compose the 1-GPU RecZero recipe (``recipes/reczero/qwen2.5-0.5b-instruct_1gpu.yaml``) with the data
   paths, the model, the checkpoint folder and the user's overrides through verl's own entry point
   (``python -m verl.trainer.main_ppo ... --cfg job``), save it as ``OUTPUT_DIR/resolved_config.yaml``, then run
   verl's ``validate_config`` on it and check that every file it names exists and that the training set fills at
   least one batch;
3. **train**: GRPO rollout needs a CUDA GPU and vLLM. Where both are present the process is replaced by
   ``python -m verl.trainer.main_ppo`` with exactly the resolved arguments. Where one is missing it stops with one
   sentence saying so and how to install them, and exits 0 (the command did everything this machine can do), or
   :data:`EXIT_NO_GPU` with ``--require-gpu`` (for scripts that must train).

Exit codes: 0 done (trained, dry run, or stopped for lack of a GPU), 1 a step failed (the message says which and
why), 3 no GPU or no vLLM under ``--require-gpu``. Re-running the same command resumes from the newest checkpoint
(the recipe sets ``trainer.resume_mode=auto``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import re
import shlex
import subprocess
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: The quickstart recipe, relative to the recipes folder.
DEFAULT_RECIPE = Path("reczero") / "qwen2.5-0.5b-instruct_1gpu.yaml"
DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
DEFAULT_OUTPUT_DIR = Path("outputs") / "quickstart"
#: ``data_source`` of the prepared sample is ``reczero/<this>``; validation metrics are grouped by it.
SAMPLE_NAME = "amazon_sample"
#: How to get what training needs, in the sentence printed on a machine without it.
GPU_INSTALL_HINT = 'pip install -e ".[gpu]"'

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_GPU = 3


class QuickstartError(RuntimeError):
    """A step of the quickstart failed; the message says which step and why (no stack trace is shown)."""


@dataclass(frozen=True)
class Plan:
    """Everything the quickstart decided before launching: paths, the recipe and the full override list."""

    output_dir: Path
    data_dir: Path
    recipe: Path
    recipes_root: Path
    overrides: tuple[str, ...]

    def train_command(self, python: str = sys.executable) -> list[str]:
        """The exact ``main_ppo`` command line that trains (the resolve step runs it with ``--cfg job``)."""
        return [
            python,
            "-m",
            "verl.trainer.main_ppo",
            "--config-path",
            str(self.recipe.parent),
            "--config-name",
            self.recipe.stem,
            # recipes/ on Hydra's search path: `+ablations=<name>` overrides resolve.
            "--config-dir",
            str(self.recipes_root),
            *self.overrides,
        ]


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
    ``meta`` in the file name (plain or gzip).
    """
    if not folder.is_dir():
        raise QuickstartError(f"the bundled sample folder {folder} is missing (a broken install?)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith((".json", ".jsonl", ".gz")))
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
    from reczero_verl import cli

    reviews, meta = find_sample_files(sample_dir())
    argv = ["prepare", "amazon", "--reviews", str(reviews), "--output-dir", str(data_dir), "--name", SAMPLE_NAME]
    if meta is not None:
        argv[4:4] = ["--meta", str(meta)]
    logger.info("step 1/3 prepare: reczero-verl %s", shlex.join(argv))
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse rejecting the options
        code = exc.code if isinstance(exc.code, int) else EXIT_FAILED
    if code != 0:
        raise QuickstartError(f"preparing the bundled sample into {data_dir} failed (exit code {code}; see above)")


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


def build_plan(args: argparse.Namespace) -> Plan:
    """Decide paths and overrides from the command line; the user's overrides come last so they win."""
    output_dir = Path(args.output_dir).resolve()
    data_dir = output_dir / "data"
    recipes_root = Path(args.recipes_dir).resolve() if args.recipes_dir else default_recipes_root()
    recipe = resolve_recipe(args.recipe, recipes_root)
    # --model defaults to Qwen2.5-0.5B-Instruct for the quickstart recipe only; another recipe keeps its own model
    # (a RecOne GRPO recipe must not silently fall back to a base model).
    model = args.model or (DEFAULT_MODEL if args.recipe is None else None)
    overrides = [
        *data_overrides(data_dir),
        *([f"actor_rollout_ref.model.path={hydra_value(model)}"] if model else []),
        f"trainer.default_local_dir={hydra_value(str(output_dir / 'checkpoints'))}",
        *args.overrides,
    ]
    return Plan(output_dir, data_dir, recipe, recipes_root, tuple(overrides))


def resolve_config(plan: Plan) -> str:
    """Step 2a: ``main_ppo ... --cfg job`` in a subprocess (verl's own Hydra composition); returns the YAML.

    While verl starts up in the subprocess, this process imports what step 2b needs, so the two start-ups overlap.
    """
    command = [*plan.train_command(), "--cfg", "job"]
    logger.info("step 2/3 resolve: %s", shlex.join(command))
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
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


def check_resolved(yaml_text: str) -> list[str]:
    """Step 2b: verl's ``validate_config`` on the resolved config, plus the files it names and the batch size.

    Returns human-readable facts for the summary. Raises :class:`QuickstartError` naming the first problem.
    """
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(yaml_text)
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
    except (AssertionError, ValueError) as exc:
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


def missing_for_training() -> list[str]:
    """What GRPO rollout needs and this machine lacks: ``"CUDA GPU"``, ``"vLLM"`` (empty: ready to train)."""
    missing = []
    import torch

    if not torch.cuda.is_available():
        missing.append("CUDA GPU")
    if importlib.util.find_spec("vllm") is None:
        missing.append("vLLM")
    return missing


def no_gpu_sentence(missing: Sequence[str]) -> str:
    """The one sentence printed when training cannot start here."""
    lacks = "neither a CUDA GPU nor vLLM" if len(missing) > 1 else f"no {missing[0]}"
    return (
        f"Data and config are ready, but GRPO rollout needs a CUDA GPU and vLLM, and this machine has {lacks}: "
        f"on a machine with an NVIDIA GPU, install them with `{GPU_INSTALL_HINT}` and run this command again."
    )


def launch(command: Sequence[str]) -> None:
    """Replace this process by verl's trainer (its logs, exit code and signals then belong to verl)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(command[0], list(command))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``reczero-verl quickstart``."""
    parser.add_argument(
        "--output-dir",
        default=str(DEFAULT_OUTPUT_DIR),
        help="folder for data/, resolved_config.yaml and checkpoints/ (default: %(default)s)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"Hugging Face id or local folder of the policy (default: {DEFAULT_MODEL} with the quickstart recipe, "
        "the recipe's own model with --recipe)",
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
        "--dry-run", action="store_true", help="prepare and resolve, print the training command, do not train"
    )
    parser.add_argument(
        "--require-gpu",
        action="store_true",
        help=f"exit with code {EXIT_NO_GPU} instead of 0 when there is no CUDA GPU or no vLLM",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="Hydra overrides passed to verl after the quickstart's own (e.g. trainer.total_epochs=1 "
        "+ablations=format_only)",
    )


def main(args: argparse.Namespace) -> int:
    """Run the quickstart; see the module docstring for the steps and exit codes."""
    try:
        plan = build_plan(args)
        plan.output_dir.mkdir(parents=True, exist_ok=True)
        prepare_sample(plan.data_dir)
        yaml_text = resolve_config(plan)
        resolved = plan.output_dir / "resolved_config.yaml"
        resolved.write_text(yaml_text, encoding="utf-8")
        facts = check_resolved(yaml_text)
    except QuickstartError as exc:
        logger.error("quickstart stopped: %s", exc)
        return EXIT_FAILED

    command = plan.train_command()
    out = sys.stdout
    out.write(f"data: {plan.data_dir}\nresolved config: {resolved} ({'; '.join(facts)})\n")
    out.write(f"training command:\n  {shlex.join(command)}\n")
    if args.dry_run:
        out.write("dry run: not training.\n")
        return EXIT_OK
    missing = missing_for_training()
    if missing:
        out.write(no_gpu_sentence(missing) + "\n")
        return EXIT_NO_GPU if args.require_gpu else EXIT_OK
    logger.info("step 3/3 train: starting verl's GRPO trainer")
    launch(command)
    return EXIT_OK  # only reached when launch is replaced (tests)
