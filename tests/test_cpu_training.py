# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Real training through verl's own trainers on the CPU backend, called as a user calls them (``-m e2e``).

* RecZero: ``reczero-verl quickstart`` on a machine without a GPU: prepare the bundled sample, build the tiny model,
  ``python -m verl.trainer.main_ppo`` with the 1-GPU recipe and ``+platform=cpu``: validation before training, two
  GRPO steps with the KL loss (reference model loaded), validation after, a checkpoint with the Hugging Face copy;
  the same command with ``--steps 3`` resumes and runs step 3. ``generate`` and ``evaluate`` then run on the HF copy.
* RecOne: ``coldstart`` against a loopback teacher -> verl's SFT trainer under ``torchrun`` -> GRPO from the SFT
  checkpoint with the RecOne recipe.
* Each ablation overlay, one GRPO step, checked in verl's own rollout dumps.

Everything asserted comes from verl's logged metrics and the files it wrote. About 10 minutes on 2 cores.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from reczero_verl import cli, quickstart
from reczero_verl.template import PREFILL_TEXT, system_prompt

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
SOURCE = f"reczero/{quickstart.SAMPLE_NAME}"
CPU_ENV = {"VERL_PLATFORM": "cpu", "TOKENIZERS_PARALLELISM": "false"}


def metrics_by_step(path: Path) -> dict[int, dict]:
    """verl's file logger: one ``{"step": N, "data": {...}}`` line per logging call, merged per step."""
    steps: dict[int, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        steps.setdefault(int(record["step"]), {}).update(record["data"])
    return steps


def run_quickstart(out: Path, *argv: str) -> tuple[int, str]:
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = cli.main(["quickstart", "--output-dir", str(out), "--backend", "cpu", *argv])
    return code, printed.getvalue()


def main_ppo(config_name: str, overrides: list[str], env: dict[str, str], log: Path) -> int:
    """``python -m verl.trainer.main_ppo`` exactly as the recipes' README shows it, output into ``log``."""
    command = [
        sys.executable, "-m", "verl.trainer.main_ppo", "--config-dir", str(RECIPES), "--config-name", config_name,
        *overrides,
    ]  # fmt: skip
    with log.open("w") as handle:
        return subprocess.run(command, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT).returncode


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---- RecZero: the quickstart on CPU, then a resume -------------------------------------------------------------


@pytest.fixture(scope="module")
def reczero(tmp_path_factory):
    out = tmp_path_factory.mktemp("reczero") / "quickstart"
    code, printed = run_quickstart(out, "--steps", "2")
    plan = quickstart.build_plan(quickstart.QuickstartOptions(output_dir=out, backend="cpu"))
    return {"out": out, "code": code, "printed": printed, "plan": plan}


@pytest.fixture(scope="module")
def resumed(reczero):
    out = reczero["out"]
    first_metrics = metrics_by_step(reczero["plan"].metrics_path)  # the resume writes its own file
    code, printed = run_quickstart(out, "--steps", "3")
    second = metrics_by_step(reczero["plan"].metrics_path)
    return {"code": code, "printed": printed, "first": first_metrics, "second": second}


def test_quickstart_trains_on_cpu_and_says_what_it_used(reczero):
    assert reczero["code"] == 0, tail(reczero["plan"].log_path)
    printed = reczero["printed"]
    assert "tiny 2-layer Qwen2-architecture model" in printed and "not model quality" in printed
    assert "step 1/2:" in printed and "step 2/2:" in printed  # a progress line per step
    assert f"validation at step 0 ({SOURCE})" in printed and f"validation at step 2 ({SOURCE})" in printed
    assert 'pip install -e ".[gpu]" && reczero-verl quickstart --backend gpu' in printed
    assert "Traceback" not in printed


def test_grpo_steps_log_verls_metrics_and_update_the_policy(reczero):
    steps = metrics_by_step(reczero["plan"].metrics_path)
    for step in (1, 2):
        for key in ("critic/score/mean", "actor/pg_loss", "actor/grad_norm", "actor/kl_loss", "timing_s/step"):
            assert math.isfinite(steps[step][key]), (step, key)
    assert steps[1]["actor/kl_coef"] == pytest.approx(0.001)  # the KL loss is on: the reference model ran
    assert "timing_s/ref" in steps[1]
    # Rewards differ inside groups (the tiny model writes well-formed answers with varying ratings), so GRPO's
    # advantages are non-zero and the policy gets a gradient (the KL term alone has zero gradient at step 1).
    assert any(steps[s]["critic/score/max"] > steps[s]["critic/score/min"] for s in (1, 2))
    assert steps[1]["actor/grad_norm"] > 0 or steps[2]["actor/grad_norm"] > 0


def test_validation_before_and_after_with_per_source_keys(reczero):
    steps = metrics_by_step(reczero["plan"].metrics_path)
    for step in (0, 2):
        for key in ("acc", "abs_error", "sq_error", "parsed", "format_ok"):
            name = f"val-{'core' if key == 'acc' else 'aux'}/{SOURCE}/{key}/mean@1"
            assert math.isfinite(steps[step][name]), (step, name)
        assert not any(k.startswith(f"val-aux/{SOURCE}/pred/") for k in steps[step])  # pred is a vote, not a mean
    dumps = reczero["out"] / "checkpoints" / "validation_generations"
    for step in (0, 2):
        for line in (dumps / f"{step}.jsonl").read_text().splitlines():
            record = json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in dump"))
            assert isinstance(record["pred"], str) and record["score"] == pytest.approx(record["reward"])


def test_checkpoint_holds_a_hugging_face_copy_that_generate_and_evaluate_use(reczero, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ckpt = reczero["out"] / "checkpoints"
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    actor = ckpt / "global_step_2" / "actor"
    assert (actor / "model_world_size_1_rank_0.pt").is_file() and (actor / "optim_world_size_1_rank_0.pt").is_file()
    hf = actor / "huggingface"
    model = AutoModelForCausalLM.from_pretrained(hf)
    assert model.config.num_hidden_layers == 2 and AutoTokenizer.from_pretrained(hf).chat_template
    test = reczero["out"] / "data" / "test.parquet"
    generations = tmp_path / "generations.jsonl"
    argv = ["generate", "--model", str(hf), "--data", str(test), "--output", str(generations), "--limit", "6"]
    assert cli.main([*argv, "--max-tokens", "64"]) == 0
    lines = [json.loads(line) for line in generations.read_text().splitlines()]
    assert len(lines) == 6 and all(isinstance(line["response"], str) for line in lines)
    report = tmp_path / "report"
    argv = ["evaluate", "--data", str(test), "--generations", str(generations), "--output-dir", str(report)]
    assert cli.main([*argv, "--limit", "6"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["n_prompts"] == 6


def test_curves_of_the_run_match_what_verl_logged(reczero, tmp_path):
    """`reczero-verl curves` on the run's dumps: each step's figures equal what verl logged for that step."""
    from reczero_verl.evaluation.curves import curves

    run = reczero["out"]
    out = tmp_path / "curves"
    assert cli.main(["curves", "--config", str(run / "resolved_config.yaml"), "--output-dir", str(out)]) == 0
    table = pd.read_csv(out / "curves.csv")
    logged = metrics_by_step(run / "logs" / "metrics.jsonl")
    train = table[table["split"] == "train"].set_index("step")
    val = table[table["split"] == "val"].set_index("step")
    assert list(train.index) == [1, 2] and list(val.index) == [0, 2]
    assert set(table["data_source"]) == {SOURCE}  # from the config's data files: verl's dumps carry none
    assert (train["n"] == 16).all() and (val["n"] == 16).all()  # 4 prompts x 4 responses; 16 validation prompts
    for step, row in train.iterrows():
        assert row["reward_mean"] == pytest.approx(logged[step]["critic/score/mean"], abs=1e-6)
    for step, row in val.iterrows():
        metric = f"val-aux/{SOURCE}/{{}}/mean@1"
        assert row["mae"] == pytest.approx(logged[step][metric.format("abs_error")], abs=1e-9)
        assert row["rmse"] ** 2 == pytest.approx(logged[step][metric.format("sq_error")], abs=1e-9)
        assert row["format_rate"] == pytest.approx(logged[step][metric.format("format_ok")], abs=1e-9)
        assert row["coverage"] == pytest.approx(logged[step][metric.format("parsed")], abs=1e-9)
        assert row["reward_mean"] == pytest.approx(logged[step][metric.format("reward")], abs=1e-6)
    report = (out / "report.md").read_text()
    assert "differ from verl" not in report  # the re-scored training rewards are verl's, line for line
    assert "0 torn last line(s)" in report and "0 malformed line(s)" in report
    for name in ("overview", "reward", "format_rate", "errors", "response_chars"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"

    # The same dumps caught mid-write: half of the last line of the newest step is on disk.
    rollouts = tmp_path / "rollout_data"
    shutil.copytree(run / "checkpoints" / "rollout_data", rollouts)
    newest = rollouts / "2.jsonl"
    lines = newest.read_text(encoding="utf-8").splitlines(keepends=True)
    newest.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2], encoding="utf-8")
    partial = curves(rollouts, None, tmp_path / "partial")
    assert partial.stats["train"].torn == [f"{newest}:{len(lines)}"] and partial.stats["train"].bad == []
    steps = partial.table.set_index("step")
    assert steps.loc[1, "reward_mean"] == pytest.approx(train.loc[1, "reward_mean"], abs=1e-12)
    assert steps.loc[2, "n"] == 15


def test_rerun_resumes_from_the_checkpoint_and_runs_step_3_only(resumed, reczero):
    assert resumed["code"] == 0, tail(reczero["plan"].log_path)
    first, second = resumed["first"], resumed["second"]
    assert {1, 2} <= set(first) and 3 not in first
    trained = {step for step, data in second.items() if "critic/score/mean" in data}
    assert trained == {3}  # steps 1 and 2 were not run again
    assert f"val-core/{SOURCE}/acc/mean@1" in second[3]
    ckpt = reczero["out"] / "checkpoints"
    assert (ckpt / "latest_checkpointed_iteration.txt").read_text().strip() == "3"
    assert (ckpt / "global_step_3" / "actor" / "huggingface" / "config.json").is_file()


# ---- RecOne: cold start -> verl's SFT trainer -> GRPO from the SFT checkpoint -------------------------------------


@pytest.fixture(scope="module")
def recone(reczero, tmp_path_factory):
    from reczero_verl.cpu.tiny_model import FILLER
    from reczero_verl.template import SECTION_NAMES, close_tag, open_tag
    from tests.fake_openai_server import Reply, ScriptedChatServer, completion

    root = tmp_path_factory.mktemp("recone")
    train = reczero["out"] / "data" / "train.parquet"
    truth = {row.prompt[-1]["content"]: row.reward_model["ground_truth"] for row in pd.read_parquet(train).itertuples()}

    def teacher(received, n):  # a teacher that answers in the TbR structure with the true rating
        rating = truth[received.body["messages"][-1]["content"]]
        sections = [f"{open_tag(s)}{t}{close_tag(s)}" for s, t in zip(SECTION_NAMES[:-1], FILLER, strict=False)]
        return Reply(body=completion("\n".join([*sections, f"<rate>{rating:g}</rate>"])))

    os.environ["RECZERO_E2E_TEACHER_KEY"] = "test-key"
    coldstart = root / "coldstart"
    with ScriptedChatServer(teacher) as server:
        coldstart_code = cli.main([
            "coldstart", "--input", str(train), "--output-dir", str(coldstart), "--base-url", server.base_url,
            "--model", "teacher", "--api-key-env", "RECZERO_E2E_TEACHER_KEY", "--max-samples", "48",
            "--val-ratio", "0.25", "--no-progress",
        ])  # fmt: skip
    base = reczero["out"] / "tiny_model"
    sft_dir, sft_log = root / "sft", root / "sft.log"
    sft_command = [
        "torchrun", "--standalone", "--nnodes=1", "--nproc_per_node=1", "-m", "verl.trainer.sft_trainer",
        "--config-dir", str(RECIPES), "--config-name", "recone_qwen2.5-0.5b-instruct_1gpu_sft",
        "+platform=cpu_sft", f"model.path={base}",
        f"data.train_files={coldstart / 'sft_train.parquet'}", f"data.val_files={coldstart / 'sft_val.parquet'}",
        f"trainer.default_local_dir={sft_dir}", "data.train_batch_size=12", "trainer.total_epochs=1",
        "trainer.logger=[console,file]",
    ]  # fmt: skip
    sft_metrics = root / "sft_metrics.jsonl"
    env = {**os.environ, **CPU_ENV, "VERL_FILE_LOGGER_PATH": str(sft_metrics)}
    with sft_log.open("w") as handle:
        sft_code = subprocess.run(sft_command, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
    sft_hf = next(iter(sorted(sft_dir.glob("global_step_*/huggingface"))), None)
    grpo_dir, grpo_log, grpo_metrics = root / "grpo", root / "grpo.log", root / "grpo_metrics.jsonl"
    grpo_code = main_ppo(
        "recone_qwen2.5-0.5b-instruct_1gpu_grpo",
        [
            *quickstart.data_overrides(reczero["out"] / "data"),
            f"trainer.default_local_dir={grpo_dir}",
            *quickstart.cpu_overrides(1),
        ],
        {**CPU_ENV, "RECONE_SFT_MODEL": str(sft_hf), "VERL_FILE_LOGGER_PATH": str(grpo_metrics)},
        grpo_log,
    )
    return {
        "coldstart": coldstart, "coldstart_code": coldstart_code, "sft_code": sft_code, "sft_log": sft_log,
        "sft_hf": sft_hf, "sft_metrics": sft_metrics, "grpo_code": grpo_code, "grpo_log": grpo_log,
        "grpo_dir": grpo_dir, "grpo_metrics": grpo_metrics,
    }  # fmt: skip


def test_recone_cold_start_keeps_the_teachers_traces(recone):
    assert recone["coldstart_code"] == 0
    stats = json.loads((recone["coldstart"] / "stats.json").read_text())
    rows = len(pd.read_parquet(recone["coldstart"] / "sft_train.parquet"))
    assert rows + len(pd.read_parquet(recone["coldstart"] / "sft_val.parquet")) == 48 and rows == 36, stats


def test_recone_sft_runs_in_verls_sft_trainer_and_lowers_the_loss(recone):
    assert recone["sft_code"] == 0, tail(recone["sft_log"])
    steps = metrics_by_step(recone["sft_metrics"])
    losses = [steps[s]["train/loss"] for s in sorted(steps) if "train/loss" in steps[s]]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)  # 36 rows / 12 per step, one epoch
    assert any("val/loss" in data for data in steps.values())
    assert recone["sft_hf"] is not None and (recone["sft_hf"] / "model.safetensors").is_file()


def test_recone_grpo_starts_from_the_sft_checkpoint(recone):
    assert recone["grpo_code"] == 0, tail(recone["grpo_log"])
    steps = metrics_by_step(recone["grpo_metrics"])
    assert math.isfinite(steps[1]["critic/score/mean"]) and math.isfinite(steps[1]["actor/grad_norm"])
    assert f"val-core/{SOURCE}/acc/mean@1" in steps[1]
    log = recone["grpo_log"].read_text(errors="replace")
    assert str(recone["sft_hf"]) in log  # the resolved model path printed by verl is the SFT checkpoint
    assert (recone["grpo_dir"] / "global_step_1" / "actor" / "huggingface" / "model.safetensors").is_file()


# ---- ablations: one GRPO step each, checked in verl's rollout dumps ------------------------------------------------


def _rollouts(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("ablation", ["format_only", "accuracy_only", "plain_template", "prefill_tag"])
def test_ablation_overlay_runs_one_step(ablation, reczero, tmp_path):
    rollouts = tmp_path / "rollouts"
    log = tmp_path / "train.log"
    code = main_ppo(
        "reczero_qwen2.5-0.5b-instruct_1gpu",
        [
            *quickstart.data_overrides(reczero["out"] / "data"),
            f"actor_rollout_ref.model.path={reczero['out'] / 'tiny_model'}",
            f"trainer.default_local_dir={tmp_path / 'checkpoints'}",
            *quickstart.cpu_overrides(1),
            "trainer.val_before_train=false",
            "trainer.test_freq=-1",
            "trainer.save_freq=-1",
            "trainer.logger=[console]",
            f"trainer.rollout_data_dir={rollouts}",
            f"+ablations={ablation}",
        ],
        CPU_ENV,
        log,
    )
    assert code == 0, tail(log)
    records = _rollouts(rollouts)
    assert len(records) == 16  # 4 prompts x 4 responses
    scores = [r["score"] for r in records]
    if ablation == "format_only":
        assert set(scores) <= {-0.5, 0.5}
    elif ablation == "accuracy_only":
        assert all(0.0 <= s <= 1.0 for s in scores)
    elif ablation == "plain_template":
        plain = system_prompt("plain")
        assert all(plain in r["input"] for r in records)
        assert all(system_prompt("tbr") not in r["input"] for r in records)
    else:  # prefill_tag: the tag is the end of the prompt, not part of the response the reward sees
        assert all(r["input"].rstrip().endswith(PREFILL_TEXT) for r in records)


# ---- issue 12: rating, ranking and like in one GRPO run; ranking evaluated next to its baselines -------------------

TASK_SOURCES = {"rating": SOURCE, "ranking": f"{SOURCE}/ranking", "like": f"{SOURCE}/like"}


def _head(src: Path, dst: Path, rows: int) -> Path:
    """The first ``rows`` rows of a prepared file (same schema), so every task is in the one batch of the run."""
    import pyarrow.parquet as pq

    dst.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pq.read_table(src).slice(0, rows), dst)
    return dst


@pytest.fixture(scope="module")
def multitask(reczero, tmp_path_factory):
    root = tmp_path_factory.mktemp("multitask")
    reviews, meta = quickstart.find_sample_files(quickstart.sample_dir())
    full = {"rating": reczero["out"] / "data"}
    for task in ("ranking", "like"):
        full[task] = root / "prepared" / task
        argv = ["prepare", "amazon", "--reviews", str(reviews), "--meta", str(meta), "--output-dir", str(full[task])]
        extra = ["--candidates", "8"] if task == "ranking" else []
        assert cli.main([*argv, "--name", quickstart.SAMPLE_NAME, "--task", task, *extra]) == 0
    train_rows = {"rating": 2, "ranking": 1, "like": 1}  # = data.train_batch_size: one batch holds every task
    train = [_head(full[t] / "train.parquet", root / "small" / t / "train.parquet", n) for t, n in train_rows.items()]
    test = [_head(full[t] / "test.parquet", root / "small" / t / "test.parquet", 4) for t in train_rows]
    rollouts, log, metrics = root / "rollouts", root / "train.log", root / "metrics.jsonl"
    code = main_ppo(
        "reczero_qwen2.5-0.5b-instruct_1gpu_ranking",
        [
            f"actor_rollout_ref.model.path={reczero['out'] / 'tiny_model'}",
            f"trainer.default_local_dir={root / 'checkpoints'}",
            *quickstart.cpu_overrides(1),
            f"data.train_files=[{','.join(map(str, train))}]",
            f"data.val_files=[{','.join(map(str, test))}]",
            "data.max_prompt_length=1536",
            "data.val_max_samples=-1",
            "trainer.save_freq=-1",
            f"trainer.rollout_data_dir={rollouts}",
        ],
        {**CPU_ENV, "VERL_FILE_LOGGER_PATH": str(metrics)},
        log,
    )
    return {"code": code, "log": log, "metrics": metrics, "rollouts": rollouts, "full": full}


def test_one_grpo_run_trains_and_validates_every_task(multitask):
    assert multitask["code"] == 0, tail(multitask["log"])
    steps = metrics_by_step(multitask["metrics"])
    for step in (0, 1):
        for task, source in TASK_SOURCES.items():
            assert math.isfinite(steps[step][f"val-core/{source}/acc/mean@1"]), (step, task)
        assert math.isfinite(steps[step][f"val-aux/{TASK_SOURCES['ranking']}/ndcg/mean@1"])
        assert math.isfinite(steps[step][f"val-aux/{TASK_SOURCES['like']}/brier/mean@1"])
        assert math.isfinite(steps[step][f"val-aux/{SOURCE}/abs_error/mean@1"])
    assert math.isfinite(steps[1]["actor/pg_loss"]) and math.isfinite(steps[1]["critic/score/mean"])
    records = _rollouts(multitask["rollouts"])
    assert len(records) == 16  # 4 prompts (2 rating, 1 ranking, 1 like) x 4 responses
    by_task = {
        task: [r for r in records if system_prompt("tbr", task=task, like_threshold=4.0 if task == "like" else None)
               in r["input"]]
        for task in TASK_SOURCES
    }  # fmt: skip
    assert {task: len(rs) for task, rs in by_task.items()} == {"rating": 8, "ranking": 4, "like": 4}
    assert all(-0.5 <= r["score"] <= 1.5 for r in records)


def test_ranking_evaluated_next_to_popularity_and_bpr(multitask, reczero, tmp_path):
    hf = reczero["out"] / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    ranking = multitask["full"]["ranking"]
    test = _head(ranking / "test.parquet", tmp_path / "test.parquet", 6)
    generations = tmp_path / "generations.jsonl"
    argv = ["generate", "--model", str(hf), "--data", str(test), "--output", str(generations), "--max-tokens", "64"]
    assert cli.main(argv) == 0
    argv = ["baselines", "--train", str(ranking / "train.parquet"), "--test", str(test)]
    assert cli.main([*argv, "--output-dir", str(tmp_path / "baselines")]) == 0
    argv = ["evaluate", "--data", str(test), "--generations", str(generations), "--output-dir", str(tmp_path / "eval")]
    assert cli.main([*argv, "--baselines", str(tmp_path / "baselines" / "metrics.json")]) == 0
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "HR@10" in report and "NDCG@10" in report
    assert "popularity" in report and "bpr" in report
