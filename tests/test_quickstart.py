# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""``reczero-verl quickstart`` (the main job): preparing, resolving and checking, and each way it can train.

One real run (module fixture): the bundled sample goes through the real ``prepare`` pipeline, the 1-GPU recipe is
resolved by a real ``python -m verl.trainer.main_ppo ... --cfg job`` process and checked as verl would at start-up
(``--backend gpu --dry-run``). The other branches (GPU present: exec of the exact resolved command; no vLLM;
``--require-gpu``; the CPU backend's plan; failures) reuse that run's products. Real training on the CPU backend is
``tests/test_cpu_training.py``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from reczero_verl import cli, quickstart

REPO = Path(__file__).resolve().parents[1]
#: User overrides passed through to verl (they come last and win; `+ablations=` needs the recipes search path).
USER_OVERRIDES = ["trainer.total_epochs=2", "+ablations=format_only"]


def run_main(argv: list[str]) -> int:
    """``reczero-verl <argv>`` in this process, as the console script runs it."""
    return cli.main(argv)


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory, tiny_model_dir):
    """The quickstart for real on this machine up to training (``--backend gpu --dry-run``: it never trains here)."""
    out = tmp_path_factory.mktemp("quickstart") / "out"
    import io
    from contextlib import redirect_stdout

    printed = io.StringIO()
    with redirect_stdout(printed):
        argv = ["quickstart", "--output-dir", str(out), "--model", str(tiny_model_dir), "--backend", "gpu", "--dry-run"]
        code = run_main([*argv, *USER_OVERRIDES])
    return {"out": out, "code": code, "stdout": printed.getvalue()}


def test_dry_run_does_every_step_but_training(cpu_run):
    assert cpu_run["code"] == quickstart.EXIT_OK
    lines = cpu_run["stdout"].strip().splitlines()
    assert lines[-1] == "dry run: not training."
    assert any(line.startswith("training command (gpu):") for line in lines)
    assert "verl validate_config passed" in cpu_run["stdout"] and "Traceback" not in cpu_run["stdout"]


def test_every_path_the_resolved_config_names_exists(cpu_run, tiny_model_dir):
    out: Path = cpu_run["out"]
    cfg = yaml.safe_load((out / "resolved_config.yaml").read_text())
    data = cfg["data"]
    for path in (data["train_files"], data["val_files"], cfg["actor_rollout_ref"]["model"]["path"]):
        assert Path(path).exists(), path
    assert data["train_files"] == str(out / "data" / "train.parquet")
    assert data["val_files"] == str(out / "data" / "test.parquet")  # prepare writes no val split by default
    assert cfg["actor_rollout_ref"]["model"]["path"] == str(tiny_model_dir)
    assert cfg["trainer"]["default_local_dir"] == str(out / "checkpoints")
    assert cfg["trainer"]["total_epochs"] == 2  # the user's overrides came last and won
    assert cfg["reward"]["custom_reward_function"]["reward_kwargs"]["mode"] == "format_only"
    assert (out / "data" / "stats.json").is_file()

    train = pd.read_parquet(data["train_files"])
    assert len(train) >= data["train_batch_size"]  # at least one step per epoch
    assert set(train["data_source"]) == {f"reczero/{quickstart.SAMPLE_NAME}"}


def test_prepared_sample_goes_through_the_recipe_dataset(cpu_run):
    """The test split, read by verl's create_rl_dataset with the resolved data config and the model's tokenizer."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.utils.config import omega_conf_to_dataclass

    from reczero_verl.dataset import RecZeroDataset

    cfg = OmegaConf.load(cpu_run["out"] / "resolved_config.yaml")
    tokenizer = omega_conf_to_dataclass(cfg.actor_rollout_ref.model).tokenizer
    dataset = create_rl_dataset(cfg.data.val_files, cfg.data, tokenizer, None, is_train=False)
    assert isinstance(dataset, RecZeroDataset)
    assert len(dataset) == len(pd.read_parquet(cfg.data.val_files))  # nothing dropped as overlong
    item = dataset[0]
    assert [m["role"] for m in item["raw_prompt"]] == ["system", "user"]
    ids = tokenizer.apply_chat_template(list(item["raw_prompt"]), add_generation_prompt=True, tokenize=True)
    assert len(ids if isinstance(ids, list) else ids["input_ids"]) <= cfg.data.max_prompt_length


def _rerun(cpu_run, monkeypatch, *extra: str, missing: list[str], gpu: bool = True) -> tuple[int, list, str]:
    """main() again on the same output folder, reusing the real run's data and resolved YAML (no new process)."""
    out: Path = cpu_run["out"]
    resolved = (out / "resolved_config.yaml").read_text()
    monkeypatch.setattr(quickstart, "prepare_sample", lambda data_dir: None)
    monkeypatch.setattr(quickstart, "resolve_config", lambda plan: resolved)
    monkeypatch.setattr(quickstart, "missing_for_gpu_training", lambda: missing)
    monkeypatch.setattr(quickstart, "has_cuda_gpu", lambda: gpu)
    launched: list = []
    monkeypatch.setattr(quickstart, "launch", launched.append)
    import io
    from contextlib import redirect_stdout

    printed = io.StringIO()
    with redirect_stdout(printed):
        code = run_main(["quickstart", "--output-dir", str(out), *extra])
    return code, launched, printed.getvalue()


def test_a_gpu_without_vllm_stops_with_one_sentence(cpu_run, monkeypatch):
    code, launched, printed = _rerun(cpu_run, monkeypatch, missing=["vLLM"])
    sentence = printed.strip().splitlines()[-1]
    assert code == quickstart.EXIT_OK and launched == []
    assert sentence == quickstart.no_gpu_sentence(["vLLM"]) and 'pip install -e ".[gpu]"' in sentence
    assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence


def test_require_gpu_turns_a_missing_gpu_into_an_error_code(cpu_run, monkeypatch):
    code, launched, printed = _rerun(cpu_run, monkeypatch, "--require-gpu", missing=["vLLM"])
    assert code == quickstart.EXIT_NO_GPU and launched == []
    assert printed.strip().splitlines()[-1] == quickstart.no_gpu_sentence(["vLLM"])
    # No GPU at all: --require-gpu refuses the CPU backend instead of training there.
    code, launched, printed = _rerun(cpu_run, monkeypatch, "--require-gpu", missing=["CUDA GPU", "vLLM"], gpu=False)
    assert code == quickstart.EXIT_NO_GPU and launched == [] and "neither a CUDA GPU nor vLLM" in printed


def test_dry_run_never_checks_for_a_gpu(cpu_run, monkeypatch):
    code, launched, printed = _rerun(cpu_run, monkeypatch, "--dry-run", missing=["CUDA GPU"])
    assert code == 0 and launched == [] and "dry run" in printed and "needs a CUDA GPU" not in printed


def test_with_a_gpu_it_execs_exactly_the_resolved_command(cpu_run, monkeypatch, tiny_model_dir):
    out: Path = cpu_run["out"]
    code, launched, _ = _rerun(cpu_run, monkeypatch, "--model", str(tiny_model_dir), *USER_OVERRIDES, missing=[])
    assert code == 0 and len(launched) == 1
    command = launched[0]
    recipes = REPO / "recipes"
    assert command[:7] == [
        sys.executable,
        "-m",
        "verl.trainer.main_ppo",
        "--config-dir",
        str(recipes),
        "--config-name",
        "reczero_qwen2.5-0.5b-instruct_1gpu",
    ]
    assert command[7:] == [
        f"data.train_files={out / 'data' / 'train.parquet'}",
        f"data.val_files={out / 'data' / 'test.parquet'}",
        f"actor_rollout_ref.model.path={tiny_model_dir}",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        *USER_OVERRIDES,
    ]
    # What trains is what was resolved: the resolve step ran this command plus `--cfg job`.
    args = cli.build_parser("quickstart").parse_args(
        ["quickstart", "--output-dir", str(out), "--model", str(tiny_model_dir), "--backend", "gpu", *USER_OVERRIDES]
    )
    assert quickstart.build_plan(quickstart.options_from_args(args)).train_command() == command


def test_the_cpu_plan_adds_the_overlay_small_sizes_and_the_platform_variable(tmp_path):
    options = quickstart.QuickstartOptions(output_dir=tmp_path, backend="cpu", steps=3, overrides=("data.seed=7",))
    plan = quickstart.build_plan(options, model="/models/tiny")
    assert plan.backend == "cpu" and plan.env["VERL_PLATFORM"] == "cpu"
    assert plan.env["VERL_FILE_LOGGER_PATH"] == str(plan.metrics_path)
    overrides = list(plan.overrides)
    assert "+platform=cpu" in overrides and "trainer.total_training_steps=3" in overrides
    assert overrides.index("+platform=cpu") > overrides.index("actor_rollout_ref.model.path=/models/tiny")
    assert overrides[-1] == "data.seed=7"  # the user's overrides come last and win
    assert plan.shell_command().startswith("VERL_PLATFORM=cpu ")
    with pytest.raises(quickstart.QuickstartError, match="--steps"):
        quickstart.build_plan(quickstart.QuickstartOptions(output_dir=tmp_path, backend="cpu", steps=0))


def test_auto_backend_follows_the_gpu(monkeypatch):
    monkeypatch.setattr(quickstart, "has_cuda_gpu", lambda: False)
    assert quickstart.choose_backend("auto") == "cpu" and quickstart.choose_backend("gpu") == "gpu"
    monkeypatch.setattr(quickstart, "has_cuda_gpu", lambda: True)
    assert quickstart.choose_backend("auto") == "gpu" and quickstart.choose_backend("cpu") == "cpu"


def test_values_verl_would_reject_fail_the_dry_run(cpu_run):
    """`trainer.total_epochs=abc` composes in Hydra and used to pass the dry run; verl's trainer dies on it later."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(cpu_run["out"] / "resolved_config.yaml")
    bad = [("trainer.total_epochs", "abc"), ("data.shuffle", "maybe"), ("actor_rollout_ref.rollout.n", "8x")]
    for key, value in bad:
        broken = cfg.copy()
        OmegaConf.update(broken, key, value)
        with pytest.raises(quickstart.QuickstartError, match=re.escape(f"{key}='{value}'")):
            quickstart.check_resolved(OmegaConf.to_yaml(broken))


def test_progress_lines_from_verls_metrics():
    metrics = {
        "critic/score/mean": -0.25,
        "actor/pg_loss": 0.0125,
        "actor/grad_norm": 0.5,
        "response_length/mean": 40.0,
        "timing_s/step": 17.04,
        "val-core/reczero/books/rating/acc/mean@1": 0.5,
        "val-aux/reczero/books/rating/abs_error/mean@1": 2.0,
        "val-aux/reczero/books/rating/sq_error/mean@1": 6.25,
        "val-aux/reczero/books/rating/format_ok/mean@1": 1.0,
        "val-aux/reczero/books/rating/parsed/mean@1": 1.0,
        "val-aux/reczero/books/rating/abs_error/std@4": 9.0,
    }
    assert quickstart.progress_line(3, 4, metrics) == [
        "step 3/4: reward -0.250, pg_loss 0.0125, grad_norm 0.5000, response length 40.0, 17.0 s",
        "validation at step 3 (reczero/books/rating): MAE 2.000, RMSE 2.500, format 1.000, parsed 1.000",
    ]
    assert quickstart.progress_line(0, 4, {}) == []


def test_read_metrics_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert quickstart.read_metrics(path) == []
    path.write_text('{"step": 1, "data": {"a": 1}}\n{"step": 2, "da')
    assert quickstart.read_metrics(path) == [{"step": 1, "data": {"a": 1}}]


def test_failures_are_one_clear_error_and_exit_code_1(tmp_path, caplog, capsys):
    code = run_main(["quickstart", "--output-dir", str(tmp_path), "--recipe", str(tmp_path / "nope.yaml")])
    assert code == quickstart.EXIT_FAILED
    assert "recipe" in caplog.text and "nope.yaml" in caplog.text and "Traceback" not in caplog.text


def test_a_failing_resolve_reports_verls_message(tmp_path, monkeypatch):
    """What verl printed on stderr is shown (its last lines), with the exit code; no traceback of ours."""
    script = "import sys; sys.stderr.write('noise\\nCould not override data.nokey\\n'); sys.exit(1)"
    monkeypatch.setattr(quickstart.Plan, "train_command", lambda self, python=sys.executable: [python, "-c", script])
    plan = quickstart.Plan(tmp_path, tmp_path / "data", tmp_path / "r.yaml", tmp_path, ())
    with pytest.raises(quickstart.QuickstartError, match=r"(?s)exit code 1.*Could not override data\.nokey"):
        quickstart.resolve_config(plan)


def test_checks_reject_a_batch_larger_than_the_data(cpu_run):
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(cpu_run["out"] / "resolved_config.yaml")
    rows = len(pd.read_parquet(cfg.data.train_files))
    cfg.data.train_batch_size = rows + 1
    cfg.actor_rollout_ref.actor.ppo_mini_batch_size = rows + 1
    with pytest.raises(quickstart.QuickstartError, match="zero steps"):
        quickstart.check_resolved(OmegaConf.to_yaml(cfg))
    cfg.data.train_batch_size = 16
    cfg.actor_rollout_ref.actor.ppo_mini_batch_size = 32  # larger than the batch: verl's own validation says no
    with pytest.raises(quickstart.QuickstartError, match="validate_config"):
        quickstart.check_resolved(OmegaConf.to_yaml(cfg))
    cfg.data.val_files = str(cpu_run["out"] / "missing.parquet")
    with pytest.raises(quickstart.QuickstartError, match="does not exist"):
        quickstart.check_resolved(OmegaConf.to_yaml(cfg))


def test_bundled_sample_files(tmp_path):
    reviews, meta = quickstart.find_sample_files(quickstart.sample_dir())
    assert reviews.name == "amazon2018_sample_reviews.json.gz" and meta.name == "amazon2018_sample_meta.json.gz"
    (tmp_path / "a_reviews.json").write_text("{}\n")
    (tmp_path / "b_reviews.json").write_text("{}\n")
    with pytest.raises(quickstart.QuickstartError, match="one reviews file"):
        quickstart.find_sample_files(tmp_path)
    with pytest.raises(quickstart.QuickstartError, match="missing"):
        quickstart.find_sample_files(tmp_path / "absent")


def test_no_gpu_sentence_names_what_is_missing():
    both = quickstart.no_gpu_sentence(["CUDA GPU", "vLLM"])
    assert "has neither a CUDA GPU nor vLLM" in both
    assert "has no vLLM" in quickstart.no_gpu_sentence(["vLLM"])
    assert "has no CUDA GPU" in quickstart.no_gpu_sentence(["CUDA GPU"])


def test_missing_for_gpu_training_reads_this_machine():
    import importlib.util

    import torch

    expected = (["CUDA GPU"] if not torch.cuda.is_available() else []) + (
        ["vLLM"] if importlib.util.find_spec("vllm") is None else []
    )
    assert quickstart.missing_for_gpu_training() == expected


def test_options_and_light_import():
    parser = argparse.ArgumentParser()
    quickstart.configure_parser(parser)
    args = parser.parse_args(["--backend", "gpu", "+ablations=format_only", "trainer.total_epochs=1"])
    assert args.overrides == ["+ablations=format_only", "trainer.total_epochs=1"]
    assert args.output_dir == str(Path("outputs") / "quickstart")
    plan = quickstart.build_plan(quickstart.options_from_args(args))
    assert "actor_rollout_ref.model.path=Qwen/Qwen2.5-0.5B-Instruct" in plan.overrides
    assert plan.recipe == (REPO / "recipes" / "reczero_qwen2.5-0.5b-instruct_1gpu.yaml")
    # Another recipe keeps its own model unless --model is given (RecOne GRPO must start from the SFT checkpoint).
    other = parser.parse_args(["--backend", "gpu", "--recipe", "recone_qwen2.5-0.5b-instruct_1gpu_grpo"])
    plan = quickstart.build_plan(quickstart.options_from_args(other))
    assert plan.recipe.name == "recone_qwen2.5-0.5b-instruct_1gpu_grpo.yaml"
    assert not any(o.startswith("actor_rollout_ref.model.path=") for o in plan.overrides)
    probe = (
        "import sys; from reczero_verl import cli; cli.build_parser('quickstart'); "
        "heavy = [m for m in ('torch', 'verl', 'transformers', 'vllm') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "text",
    [
        "/data/train.parquet",
        "Qwen/Qwen2.5-0.5B-Instruct",
        "/my data/x,y[1].parquet",
        "/it's/a\\b=c",
        "~/models/qwen",
        "C:\\models\\",
    ],
)
def test_paths_survive_hydra_override_parsing(text):
    """Paths go to verl as `key=value` overrides: spaces, commas, quotes and backslashes must come back intact."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    value = quickstart.hydra_value(text)
    assert OverridesParser.create().parse_override(f"data.train_files={value}").value() == text
