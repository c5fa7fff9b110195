# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The recipes in ``recipes/`` against the installed verl, on CPU.

What a GPU run would hit first is checked here without one: Hydra composition through verl's own config search path,
verl's dataclass conversion (algorithm, actor, rollout, model with a tiny local model), ``validate_config``,
``main_ppo --cfg job`` / ``sft_trainer --cfg job`` for every recipe, batch arithmetic per GPU count (with verl's own
padding rule), the reward wiring through ``load_reward_manager`` (each ablation's reward options reach the scorer),
the ablation overlays (each changes exactly its keys), the dataset class and its options, per-data-source
validation metric names, and the RecOne SFT data contract through verl's ``MultiTurnSFTDataset``. A legacy reward key
(silently ignored by verl 0.9.1) anywhere in a recipe fails the suite.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from reczero_verl.reward import compute_score
from reczero_verl.template import (
    PREFILL_TEXT,
    SECTION_NAMES,
    build_messages,
    close_tag,
    open_tag,
    prefill_chat_template,
)

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
GRPO_RECIPES = sorted(RECIPES.glob("reczero_*.yaml")) + sorted(RECIPES.glob("recone_*_grpo.yaml"))
SFT_RECIPES = sorted(RECIPES.glob("recone_*_sft.yaml"))
ALL_RECIPES = GRPO_RECIPES + SFT_RECIPES
ABLATIONS = sorted((RECIPES / "ablations").glob("*.yaml"))
QUICKSTART = RECIPES / "reczero_qwen2.5-0.5b-instruct_1gpu.yaml"
MULTIDATASET = RECIPES / "reczero_qwen2.5-7b-instruct_8gpu_multidataset.yaml"
LAUNCHER = RECIPES / "run.sh"
#: The fully spelled-out recipes (one per method and scale); every other recipe is a short overlay on one of them.
REFERENCES = {
    "reczero_qwen2.5-0.5b-instruct_1gpu": "ppo_trainer",
    "reczero_qwen2.5-7b-instruct_8gpu": "ppo_trainer",
    "recone_qwen2.5-0.5b-instruct_1gpu_sft": "sft_trainer_engine",
}
OVERLAYS = {
    "reczero_qwen2.5-7b-instruct_8gpu_multidataset": "reczero_qwen2.5-7b-instruct_8gpu",
    "reczero_qwen2.5-7b-instruct_8gpu_multitask": "reczero_qwen2.5-7b-instruct_8gpu",
    "reczero_qwen2.5-0.5b-instruct_1gpu_ranking": "reczero_qwen2.5-0.5b-instruct_1gpu",
    "recone_qwen2.5-0.5b-instruct_1gpu_grpo": "reczero_qwen2.5-0.5b-instruct_1gpu",
    "recone_qwen2.5-7b-instruct_8gpu_grpo": "reczero_qwen2.5-7b-instruct_8gpu",
    "recone_qwen2.5-7b-instruct_8gpu_sft": "recone_qwen2.5-0.5b-instruct_1gpu_sft",
}
# As `--config-dir recipes` gives it: verl's own configs stay the primary search path (here: the recipes folder is).
SEARCHPATH = "hydra.searchpath=[pkg://verl.trainer.config]"

#: The keys each ablation overlay must change, and nothing else (flattened dotted paths).
ABLATION_KEYS = {
    "accuracy_only": {"reward.custom_reward_function.reward_kwargs.mode"},
    "format_only": {"reward.custom_reward_function.reward_kwargs.mode"},
    "no_std_norm": {"algorithm.norm_adv_by_std_in_grpo"},
    # The reward's variant interpolates ${data.reczero.variant}: one key switches both (REWARD_CASES proves it).
    "plain_template": {"data.reczero.variant"},
    "prefill_tag": {
        "actor_rollout_ref.model.custom_chat_template",
        "reward.custom_reward_function.reward_kwargs.prefilled_prefix",
    },
}


def rid(path: Path) -> str:
    return path.stem if path.parent == RECIPES else f"{path.parent.name}/{path.stem}"


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted-path -> leaf value of a nested dict/list tree."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


# --------------------------------------------------------------------------------------------------------------------
# Legacy reward keys: verl 0.9.1 keeps `custom_reward_function.*` and `reward_model.*` at the top level as null
# placeholders and silently ignores them. The reward lives under `reward.` only.
# --------------------------------------------------------------------------------------------------------------------
LEGACY_TOP_LEVEL = ("custom_reward_function", "reward_model")
_LEGACY_OVERRIDE = re.compile(r"(?:^|[\s'\"])\+{0,2}(?:custom_reward_function|reward_model)\.")


def legacy_reward_keys(tree: Any) -> list[str]:
    """The legacy reward keys a recipe/overlay tree sets (top-level only: `reward.reward_model` is the new key)."""
    if not isinstance(tree, dict):
        return []
    return sorted(key for key in tree if key in LEGACY_TOP_LEVEL)


def legacy_reward_overrides(script: str) -> list[str]:
    """Command-line overrides of legacy reward keys in a launcher script or a command (comments ignored)."""
    lines = [line.split("#", 1)[0] for line in script.splitlines()]
    return [line.strip() for line in lines if _LEGACY_OVERRIDE.search(line)]


def test_the_legacy_key_checks_can_fail():
    assert legacy_reward_keys({"custom_reward_function": {"path": "pkg://x"}, "reward": {}}) == [
        "custom_reward_function"
    ]
    assert legacy_reward_keys({"reward_model": {"reward_manager": "naive"}}) == ["reward_model"]
    assert legacy_reward_keys({"reward": {"reward_model": {"enable": False}, "custom_reward_function": {}}}) == []
    assert legacy_reward_overrides("exec python -m x \\\n  custom_reward_function.path=pkg://a") != []
    assert legacy_reward_overrides("exec python -m x +reward_model.reward_manager=naive") != []
    assert legacy_reward_overrides("exec python -m x reward.custom_reward_function.path=pkg://a") == []
    assert legacy_reward_overrides("# custom_reward_function.path is legacy") == []


@pytest.mark.parametrize("path", ALL_RECIPES + ABLATIONS, ids=rid)
def test_no_recipe_or_overlay_sets_a_legacy_reward_key(path):
    tree = yaml.safe_load(path.read_text())
    assert legacy_reward_keys(tree) == [], f"{path} sets legacy reward keys that verl 0.9.1 silently ignores"
    assert legacy_reward_overrides(path.read_text()) == []  # nor in the commands its header shows


def test_the_launcher_sets_no_legacy_reward_key():
    assert legacy_reward_overrides(LAUNCHER.read_text()) == []


# --------------------------------------------------------------------------------------------------------------------
# Layout: naming, Hydra header, launchers
# --------------------------------------------------------------------------------------------------------------------


def test_recipe_set_is_complete():
    names = {p.stem for p in ALL_RECIPES}
    assert names == set(REFERENCES) | set(OVERLAYS)
    for scale in ("qwen2.5-0.5b-instruct_1gpu", "qwen2.5-7b-instruct_8gpu"):
        assert {f"reczero_{scale}", f"recone_{scale}_sft", f"recone_{scale}_grpo"} <= names
    assert {p.stem for p in ABLATIONS} == set(ABLATION_KEYS)
    assert (RECIPES / "REQUIRED_VERL").read_text().splitlines()[0] == "verl==0.9.1"
    from reczero_verl import REQUIRED_VERL

    assert REQUIRED_VERL == "0.9.1"


@pytest.mark.parametrize("path", ALL_RECIPES, ids=rid)
def test_recipes_are_references_or_short_overlays(path, composed):
    """One spelled-out recipe per method and scale; the others only state what differs (defaults: the reference)."""
    tree = yaml.safe_load(path.read_text())
    assert "hydra" not in tree  # `--config-dir recipes` keeps verl's configs on the search path: no searchpath here
    if path.stem in REFERENCES:
        assert tree["defaults"] == [REFERENCES[path.stem], "_self_"]
    else:
        assert tree["defaults"] == [OVERLAYS[path.stem], "_self_"]
        assert len(flatten({k: v for k, v in tree.items() if k != "defaults"})) <= 12, "an overlay, not a copy"
    # Name = method + model + GPU count (+ variant); the count is the recipe's own GPU count.
    match = re.fullmatch(r"(?:reczero|recone)_qwen2\.5-(?:0\.5b|7b)-instruct_(\d+)gpu(?:_[a-z]+)?", path.stem)
    assert match, path.stem
    trainer = composed(path, model=False).trainer
    assert int(match.group(1)) == trainer.n_gpus_per_node * trainer.nnodes


def test_one_launcher():
    text = LAUNCHER.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash" and "SPDX-License-Identifier: Apache-2.0" in lines[2]
    assert LAUNCHER.stat().st_mode & stat.S_IXUSR
    assert [p.name for p in RECIPES.rglob("*.sh")] == ["run.sh"], "one launcher only"
    subprocess.run(["bash", "-n", str(LAUNCHER)], check=True)
    done = subprocess.run(["bash", str(LAUNCHER), "no_such_recipe"], capture_output=True, text=True)
    assert done.returncode == 2 and "no recipe" in done.stderr


def test_ablation_files_are_global_overlays():
    for path in ABLATIONS:
        assert path.read_text().startswith("# @package _global_\n"), path


# --------------------------------------------------------------------------------------------------------------------
# Composition (module-scoped cache: Hydra composition after `import verl` costs about half a second)
# --------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def composed(tiny_model_dir):
    """``composed(recipe, *overrides)`` -> the Hydra-composed DictConfig (cached); the model is the tiny local one."""
    import verl  # noqa: F401  (loads the reczero_verl plugin: the `reczero` reward manager registers)
    from hydra import compose, initialize_config_dir

    cache: dict[tuple, Any] = {}

    def _compose(recipe: Path, *overrides: str, model: bool = True):
        key = (recipe, overrides, model)
        if key not in cache:
            extra = [f"actor_rollout_ref.model.path={tiny_model_dir}"] if recipe in GRPO_RECIPES and model else []
            if recipe in SFT_RECIPES and model:
                extra = [f"model.path={tiny_model_dir}"]
            with initialize_config_dir(config_dir=str(recipe.parent), version_base=None):
                cache[key] = compose(config_name=recipe.stem, overrides=[SEARCHPATH, *extra, *overrides])
        return cache[key]

    return _compose


@pytest.mark.parametrize("recipe", GRPO_RECIPES, ids=rid)
def test_grpo_recipe_converts_and_passes_verl_validation(recipe, composed):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config
    from verl.utils.import_utils import load_extern_object

    from reczero_verl.dataset import BudgetOptions, RecZeroDataset

    cfg = composed(recipe)
    algorithm = omega_conf_to_dataclass(cfg.algorithm)
    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    rollout = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout)
    model = omega_conf_to_dataclass(cfg.actor_rollout_ref.model)
    assert algorithm.adv_estimator == "grpo"
    assert actor.use_kl_loss and actor.kl_loss_type == "low_var_kl" and actor.kl_loss_coef == pytest.approx(1e-3)
    assert rollout.name == "vllm" and rollout.n >= 2 and rollout.temperature == pytest.approx(1.0)
    assert model.tokenizer is not None  # the tiny model folder loaded through HFModelConfig
    assert set(actor.checkpoint.save_contents) == {"model", "optimizer", "extra", "hf_model"}
    assert need_reference_policy(cfg) and not need_critic(cfg)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        validate_config(cfg, use_reference_policy=True, use_critic=False)
    assert "All configuration checks passed" in printed.getvalue()

    # Dataset class and its options.
    assert load_extern_object(cfg.data.custom_cls.path, cfg.data.custom_cls.name) is RecZeroDataset
    assert BudgetOptions.from_data_config(cfg.data).variant == "tbr"
    assert cfg.data.filter_overlong_prompts is True
    # Checkpoints resume from default_local_dir.
    assert cfg.trainer.resume_mode == "auto" and cfg.trainer.save_freq > 0 and cfg.trainer.default_local_dir
    assert cfg.trainer.test_freq > 0 and cfg.trainer.val_before_train


def check_batch_arithmetic(cfg, n_gpus: int) -> None:
    """The batch sizes of a GRPO config divide as verl needs them to on ``n_gpus`` GPUs."""
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    arr = cfg.actor_rollout_ref
    batch, group = cfg.data.train_batch_size, arr.rollout.n
    mini, micro = arr.actor.ppo_mini_batch_size, arr.actor.ppo_micro_batch_size_per_gpu
    assert not arr.actor.use_dynamic_bsz and micro >= 1
    assert batch % mini == 0, "a step must be a whole number of PPO mini-batches"
    assert (batch * group) % n_gpus == 0
    assert (mini * group) % n_gpus == 0 and (mini * group // n_gpus) % micro == 0, "mini-batch -> micro-batches"
    assert n_gpus % arr.rollout.tensor_model_parallel_size == 0
    # verl pads every step's batch up to this multiple (dp size, actor mini-batch): none needed, none wasted.
    stub = SimpleNamespace(use_critic=False, config=cfg, global_steps=1)
    assert (batch * group) % PPOTrainer._get_required_batch_multiple(stub, n_gpus) == 0


@pytest.mark.parametrize("recipe", GRPO_RECIPES, ids=rid)
def test_grpo_batch_arithmetic(recipe, composed):
    cfg = composed(recipe)
    n_gpus = cfg.trainer.n_gpus_per_node * cfg.trainer.nnodes
    check_batch_arithmetic(cfg, n_gpus)
    arr = cfg.actor_rollout_ref
    for role in (arr.rollout, arr.ref):
        assert role.log_prob_micro_batch_size_per_gpu >= 1 and role.log_prob_micro_batch_size is None
    if n_gpus == 1:
        assert arr.rollout.tensor_model_parallel_size == 1
        assert cfg.reward.num_workers <= 4 and arr.rollout.agent.num_workers <= 4
        assert cfg.transfer_queue.backend.SimpleStorage.num_data_storage_units <= 4
        assert cfg.data.dataloader_num_workers <= 4
    else:  # the documented multi-node use: trainer.nnodes=2 or 4 with the same batch sizes
        for nnodes in (2, 4):
            check_batch_arithmetic(cfg, n_gpus * nnodes)
    # Validation: one greedy answer per prompt, so mean@1 of abs_error is the MAE of the policy's answer.
    assert arr.rollout.val_kwargs.n == 1 and not arr.rollout.val_kwargs.do_sample
    assert arr.rollout.val_kwargs.temperature == 0


def test_batch_check_can_fail(composed):
    cfg = copy.deepcopy(composed(QUICKSTART))  # the cached config must stay intact
    cfg.actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu = 3  # 64 responses per update do not split into 3s
    with pytest.raises(AssertionError, match="micro"):
        check_batch_arithmetic(cfg, 1)


def test_every_task_scores_through_verls_reward_loop_with_the_multitask_recipe(composed, tiny_tokenizer):
    """One recipe, three tasks: each row's extra_info.task picks its scoring inside verl's own reward loop."""
    cfg = composed(RECIPES / "reczero_qwen2.5-7b-instruct_8gpu_multitask.yaml")
    rank = TBR_ANSWER.replace("<rate>4</rate>", "<rank>2, 1</rank>")
    ranking = score_through_verl(cfg, tiny_tokenizer, rank, "b", extra={"task": "ranking", "candidates": ["a", "b"]})
    assert ranking["reward_score"] == pytest.approx(1.5) and ranking["reward_extra_info"]["ndcg"] == 1.0
    like = TBR_ANSWER.replace("<rate>4</rate>", "<like>0.9</like>")
    liked = score_through_verl(cfg, tiny_tokenizer, like, 1, extra={"task": "like"})
    assert liked["reward_score"] == pytest.approx(0.5 + 1 - 0.01)
    assert liked["reward_extra_info"]["abs_error"] is None and liked["reward_extra_info"]["brier"] == pytest.approx(
        0.01
    )
    rating = score_through_verl(cfg, tiny_tokenizer, TBR_ANSWER, 5.0)
    assert set(rating["reward_extra_info"]) == set(liked["reward_extra_info"])  # one batch can hold every task


def test_8gpu_recipes_share_hyper_parameters(composed):
    """RecZero vs RecOne vs multi-dataset at the same scale: only data, model and names may differ."""
    base = flatten(_plain(composed(RECIPES / "reczero_qwen2.5-7b-instruct_8gpu.yaml")))
    allowed = re.compile(r"^(data\.(train|val)_files.*|trainer\.(project|experiment)_name)$")
    multitask = RECIPES / "reczero_qwen2.5-7b-instruct_8gpu_multitask.yaml"
    for other in (MULTIDATASET, multitask, RECIPES / "recone_qwen2.5-7b-instruct_8gpu_grpo.yaml"):
        diff = {k for k, v in flatten(_plain(composed(other))).items() if base.get(k, "<absent>") != v}
        assert {k for k in diff if not allowed.match(k)} == set(), other


def _plain(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=False)


def test_recone_grpo_requires_the_sft_checkpoint(composed, monkeypatch):
    """RecOne GRPO has no usable default model: without the SFT folder it must stop, not train the base model."""
    from omegaconf.errors import InterpolationResolutionError

    for recipe in GRPO_RECIPES:
        if recipe.stem.startswith("reczero_"):
            assert composed(recipe, model=False).actor_rollout_ref.model.path.startswith("Qwen/Qwen2.5-")
            continue
        cfg = composed(recipe, model=False)
        monkeypatch.delenv("RECONE_SFT_MODEL", raising=False)
        with pytest.raises(InterpolationResolutionError, match="RECONE_SFT_MODEL"):
            _ = cfg.actor_rollout_ref.model.path
        monkeypatch.setenv("RECONE_SFT_MODEL", "/ckpt/global_step_9/huggingface")
        assert cfg.actor_rollout_ref.model.path == "/ckpt/global_step_9/huggingface"


# --------------------------------------------------------------------------------------------------------------------
# `main_ppo --cfg job` / `sft_trainer --cfg job`: verl's own entry points, every recipe
# --------------------------------------------------------------------------------------------------------------------
def _run_hydra_main(main, argv: list[str], monkeypatch) -> str:
    """Call a @hydra.main entry point as the command line would; returns what it printed."""
    monkeypatch.setattr(sys, "argv", argv)
    out = io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out):
            main()
    except SystemExit as exc:
        code = exc.code
    assert code in (0, None), f"{argv} exited with {code}"
    return out.getvalue()


def launcher_argv(launcher: Path, args: list[str], tmp_path: Path) -> list[str]:
    """Run a launcher with stand-ins for python and torchrun that record the command line they were given."""
    record = tmp_path / "argv"
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    for name in ("fake-python", "torchrun"):
        (fake / name).write_text(f'#!/usr/bin/env bash\nprintf "%s\\0" "$@" > "{record}"\n')
        (fake / name).chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake / "fake-python"), "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(launcher), *args], env=env, check=True, cwd=tmp_path)
    return record.read_text().split("\0")[:-1]


@pytest.mark.parametrize("recipe", ALL_RECIPES, ids=rid)
def test_launcher_and_cfg_job_through_verl_entry_point(recipe, monkeypatch, tmp_path, composed):
    """The launcher's exact command line, run through verl's entry point with `--cfg job` (in this process)."""
    from verl.trainer import main_ppo, sft_trainer

    sft = recipe in SFT_RECIPES
    extra = ["data.train_files=/x/train.parquet"] if sft else ["+ablations=format_only"]
    argv = launcher_argv(LAUNCHER, [recipe.stem, *extra, "trainer.total_epochs=2"], tmp_path)
    module = "verl.trainer.sft_trainer" if sft else "verl.trainer.main_ppo"
    position = argv.index("-m")
    assert argv[position + 1 : position + 6] == [module, "--config-dir", str(RECIPES), "--config-name", recipe.stem]
    assert argv[-2:] == [extra[0], "trainer.total_epochs=2"]
    if sft:
        gpus = re.search(r"_(\d+)gpu", recipe.stem).group(1)
        assert argv[:position] == ["--standalone", "--nnodes=1", f"--nproc_per_node={gpus}"]
    printed = yaml.safe_load(
        _run_hydra_main(
            sft_trainer.main if sft else main_ppo.main, [module, *argv[position + 2 :], "--cfg", "job"], monkeypatch
        )
    )
    assert printed["trainer"]["total_epochs"] == 2
    if sft:
        assert printed["data"]["train_files"] == "/x/train.parquet" and printed["data"]["messages_key"] == "messages"
    else:
        assert printed["reward"]["custom_reward_function"]["reward_kwargs"]["mode"] == "format_only"
        assert printed["reward"]["custom_reward_function"]["path"] == "pkg://reczero_verl.reward"
        assert printed["algorithm"]["adv_estimator"] == "grpo"
        # verl 0.9.1 still prints the legacy placeholders: they must all be null.
        for key in LEGACY_TOP_LEVEL:
            assert all(v is None for v in flatten(printed[key]).values()), key


# --------------------------------------------------------------------------------------------------------------------
# Ablations
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ablation", sorted(ABLATION_KEYS))
def test_ablation_changes_exactly_its_keys(ablation, composed):
    base = flatten(_plain(composed(QUICKSTART)))
    changed = flatten(_plain(composed(QUICKSTART, f"+ablations={ablation}")))
    assert set(changed) == set(base)
    assert {k for k in base if base[k] != changed[k]} == ABLATION_KEYS[ablation]
    # The overlay's keys exist in every GRPO recipe, so it applies to any of them.
    for recipe in GRPO_RECIPES:
        keys = flatten(_plain(composed(recipe)))
        assert ABLATION_KEYS[ablation] <= set(keys), recipe


def test_prefill_ablation_uses_the_package_template(composed, tiny_model_dir):
    from verl.utils.config import omega_conf_to_dataclass

    cfg = composed(QUICKSTART, "+ablations=prefill_tag")
    assert cfg.actor_rollout_ref.model.custom_chat_template == prefill_chat_template()
    assert cfg.reward.custom_reward_function.reward_kwargs.prefilled_prefix == PREFILL_TEXT
    # HFModelConfig installs it: the generation prompt the rollout builds ends with the pre-filled tag.
    tokenizer = omega_conf_to_dataclass(cfg.actor_rollout_ref.model).tokenizer
    prompt = tokenizer.apply_chat_template(build_messages({}), add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n" + PREFILL_TEXT)


# --------------------------------------------------------------------------------------------------------------------
# Reward wiring: load_reward_manager(cfg, tokenizer).run_single(DataProto), as verl's reward worker calls it
# --------------------------------------------------------------------------------------------------------------------
#: A valid TbR answer predicting 4 (the tag names come from the template module, never retyped).
TBR_ANSWER = "".join(
    f"{open_tag(name)}{text}{close_tag(name)}\n"
    for name, text in zip(SECTION_NAMES, ["likes", "fits", "ok", "4"], strict=True)
)


def score_through_verl(
    cfg, tokenizer, response: str, ground_truth: Any, scale=(1.0, 5.0), extra: dict | None = None
) -> dict:
    import torch
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager import NaiveRewardManager
    from verl.trainer.ppo.reward import load_reward_manager

    import reczero_verl.reward

    manager = load_reward_manager(cfg, tokenizer)
    # The one wiring of every recipe: verl's default reward loop calling our compute_score with reward_kwargs.
    assert type(manager) is NaiveRewardManager
    assert reczero_verl.reward.compute_score in manager.compute_score.args  # partial(_call_with_kwargs, fn, kwargs)
    prompt_ids = tokenizer("rate it", add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(response_ids, skip_special_tokens=True) == response
    data = DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([prompt_ids]),
            "responses": torch.tensor([response_ids]),
            "attention_mask": torch.ones(1, len(prompt_ids) + len(response_ids), dtype=torch.long),
        },
        non_tensors={
            "data_source": np.array(["reczero/test"], dtype=object),
            "reward_model": np.array([{"ground_truth": ground_truth, "style": "rule"}], dtype=object),
            "extra_info": np.array(
                [{"rating_min": scale[0], "rating_max": scale[1], "index": 0, **(extra or {})}], dtype=object
            ),
        },
    )
    return manager.loop.run_until_complete(manager.run_single(data))


# (ablation, response, expected score) with a true rating of 5 on 1-5: the answer 4 has acc = 1 - 1/4 = 0.75.
REWARD_CASES = [
    (None, TBR_ANSWER, 0.5 + 0.75),
    ("format_only", TBR_ANSWER, 0.5),
    ("accuracy_only", TBR_ANSWER, 0.75),
    ("no_std_norm", TBR_ANSWER, 0.5 + 0.75),
    ("plain_template", "<rate>4</rate>", 0.5 + 0.75),
    ("plain_template", TBR_ANSWER, -0.5),  # the plain format check rejects the four sections
    # The pre-filled tag is in the prompt, not in the response: without prefilled_prefix this would be -0.5.
    ("prefill_tag", TBR_ANSWER[len(PREFILL_TEXT) :], 0.5 + 0.75),
]


@pytest.mark.parametrize(("ablation", "response", "expected"), REWARD_CASES, ids=lambda v: str(v)[:14])
def test_reward_options_reach_the_scorer(ablation, response, expected, composed, tiny_tokenizer):
    cfg = composed(QUICKSTART, *([f"+ablations={ablation}"] if ablation else []))
    result = score_through_verl(cfg, tiny_tokenizer, response, ground_truth=5.0)
    assert result["reward_score"] == pytest.approx(expected)
    assert result["reward_extra_info"]["abs_error"] == pytest.approx(1.0)


def test_reward_kwargs_override_on_the_command_line(composed, tiny_tokenizer):
    """The recipes define reward_kwargs, so a plain `key=value` override (no `+`) reaches the scorer."""
    cfg = composed(QUICKSTART, "reward.custom_reward_function.reward_kwargs.format_weight=1.0")
    result = score_through_verl(cfg, tiny_tokenizer, TBR_ANSWER, ground_truth=5.0)
    assert result["reward_score"] == pytest.approx(1.0 + 0.75)
    assert result["reward_extra_info"]["format_reward"] == pytest.approx(1.0)


def test_prefill_prefix_is_what_makes_the_prefilled_answer_valid():
    plain = compute_score("reczero/test", TBR_ANSWER[len(PREFILL_TEXT) :], 5.0, {"rating_min": 1, "rating_max": 5})
    assert plain["format_ok"] == 0.0 and plain["score"] == pytest.approx(-0.5)


@pytest.mark.parametrize("recipe", GRPO_RECIPES, ids=rid)
def test_every_grpo_recipe_scores_with_the_full_reward(recipe, composed, tiny_tokenizer):
    result = score_through_verl(composed(recipe), tiny_tokenizer, TBR_ANSWER, ground_truth=5.0)
    assert result["reward_score"] == pytest.approx(1.25)


# --------------------------------------------------------------------------------------------------------------------
# Multi-dataset: several scales in one batch, validation metrics per data source under the documented names
# --------------------------------------------------------------------------------------------------------------------
def _prepare(tmp_path: Path, name: str, rating_max: float, seed: int) -> Path:
    from reczero_verl import cli
    from reczero_verl.sample_data.synthetic import write_amazon2018_dump

    raw = tmp_path / f"raw_{name}"
    raw.mkdir()
    write_amazon2018_dump(raw / "reviews.json", raw / "meta.json", n_reviews=300, n_users=40, n_items=30, seed=seed)
    out = tmp_path / name
    argv = ["prepare", "amazon", "--reviews", str(raw / "reviews.json"), "--meta", str(raw / "meta.json")]
    argv += ["--output-dir", str(out), "--name", name, "--rating-max", str(rating_max), "--max-test", "6"]
    assert cli.main(argv) == 0
    return out


def test_multidataset_scales_and_per_source_metric_names(tmp_path, composed, tiny_tokenizer):
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    five = _prepare(tmp_path, "five", 5.0, seed=1)
    ten = _prepare(tmp_path, "ten", 10.0, seed=2)
    val = [str(five / "test.parquet"), str(ten / "test.parquet")]
    cfg = composed(
        MULTIDATASET,
        f"data.train_files=[{five}/train.parquet,{ten}/train.parquet]",
        f"data.val_files=[{val[0]},{val[1]}]",
    )
    dataset = create_rl_dataset(cfg.data.val_files, cfg.data, tiny_tokenizer, None, is_train=False)
    frame = pd.concat([pd.read_parquet(p) for p in val], ignore_index=True)
    assert len(dataset) == len(frame)

    sources, uids, infos = [], [], {}
    expected: dict[str, list[float]] = {}
    for i in range(len(dataset)):
        item = dataset[i]
        source = item["data_source"]
        lo, hi = item["extra_info"]["rating_min"], item["extra_info"]["rating_max"]
        assert (source, hi) in {("reczero/five", 5.0), ("reczero/ten", 10.0)}
        assert f"from {lo:g} to {hi:g}" in item["raw_prompt"][0]["content"]  # the system prompt states its scale
        truth = float(item["reward_model"]["ground_truth"])
        guess = lo if truth - lo > hi - truth else hi  # the farther end of the scale: a large, known error
        result = score_through_verl(cfg, tiny_tokenizer, TBR_ANSWER.replace(">4<", f">{guess:g}<"), truth, (lo, hi))
        sources.append(source)
        uids.append(f"u{i}")
        for key, value in result["reward_extra_info"].items():
            infos.setdefault(key, []).append(value)
        infos.setdefault("reward", []).append(result["reward_score"])
        expected.setdefault(source, []).append(abs(guess - truth))

    metrics = PPOTrainer._val_metrics_update(None, sources, uids, infos, [])
    for source, errors in expected.items():
        mae = float(np.mean(errors))
        rmse = math.sqrt(float(np.mean(np.square(errors))))
        scale = 5.0 - 1.0 if source.endswith("five") else 10.0 - 1.0
        assert metrics[f"val-aux/{source}/abs_error/mean@1"] == pytest.approx(mae)
        assert math.sqrt(metrics[f"val-aux/{source}/sq_error/mean@1"]) == pytest.approx(rmse)
        assert metrics[f"val-core/{source}/acc/mean@1"] == pytest.approx(1 - mae / scale)
        assert metrics[f"val-aux/{source}/parsed/mean@1"] == pytest.approx(1.0)
        assert metrics[f"val-aux/{source}/format_ok/mean@1"] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------------------------
# RecOne SFT recipes and the cold-start data contract
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("recipe", SFT_RECIPES, ids=rid)
def test_sft_recipe_converts_and_pairs_with_its_grpo_recipe(recipe, composed):
    from verl.utils.config import omega_conf_to_dataclass

    cfg = composed(recipe)
    for section in ("model", "engine", "optim", "checkpoint", "profiler"):  # what SFTTrainer._build_config builds
        omega_conf_to_dataclass(cfg[section])
    data = cfg.data
    n_gpus = cfg.trainer.n_gpus_per_node * cfg.trainer.nnodes
    assert data.messages_key == "messages" and data.pad_mode == "no_padding" and data.truncation == "error"
    assert data.train_batch_size % n_gpus == 0
    assert not data.use_dynamic_bsz or data.max_token_len_per_gpu >= data.max_length
    assert "hf_model" in cfg.checkpoint.save_contents  # GRPO loads global_step_<N>/huggingface
    assert cfg.trainer.resume_mode == "auto"

    grpo = composed(recipe.with_name(recipe.stem.replace("_sft", "_grpo") + ".yaml"))
    assert grpo.trainer.n_gpus_per_node == cfg.trainer.n_gpus_per_node
    # Same chat template in both steps, and room for the GRPO prompt + response budget.
    assert cfg.model.custom_chat_template == grpo.actor_rollout_ref.model.custom_chat_template
    assert data.max_length >= grpo.data.max_prompt_length + grpo.data.max_response_length
    # Same base model as the RecZero recipe of that scale (RecOne = SFT + the same GRPO).
    unresolved = composed(recipe, model=False)
    reczero = composed(
        RECIPES / (recipe.stem.replace("recone_", "reczero_").replace("_sft", "") + ".yaml"), model=False
    )
    assert unresolved.model.path == reczero.actor_rollout_ref.model.path
    # The folder the GRPO header tells users to load: checkpoints/<project>/<experiment>/global_step_<N>/huggingface.
    grpo_header = recipe.with_name(recipe.stem.replace("_sft", "_grpo") + ".yaml").read_text()
    sft_dir = f"checkpoints/{cfg.trainer.project_name}/{cfg.trainer.experiment_name}/global_step_<N>/huggingface"
    assert cfg.trainer.default_local_dir == sft_dir.removesuffix("/global_step_<N>/huggingface")
    assert sft_dir in grpo_header


@pytest.mark.parametrize("recipe", SFT_RECIPES[:1], ids=rid)
def test_cold_start_parquet_through_verl_sft_dataset(recipe, composed, tmp_path):
    from verl.utils.config import omega_conf_to_dataclass
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    cfg = composed(recipe)
    tokenizer = omega_conf_to_dataclass(cfg.model).tokenizer  # the recipe's chat template setting applied
    row = {
        "user_history": [{"item_id": "a", "title": "Trail shoe", "rating": 4.0, "timestamp": 1, "review": "Comfy"}],
        "item_history": [{"user_id": "u2", "rating": 5.0, "timestamp": 2, "review": "Great grip"}],
        "target_item": {"item_id": "b", "title": "Road shoe", "categories": "Shoes"},
        "user_avg_rating": 4.0,
        "item_avg_rating": 5.0,
    }
    prompt = build_messages(row, rating_min=1.0, rating_max=5.0)
    conversations = [
        [*prompt, {"role": "assistant", "content": TBR_ANSWER.strip()}],
        [*prompt, {"role": "assistant", "content": TBR_ANSWER.replace(">4<", ">2.5<").strip()}],
    ]
    path = tmp_path / "sft_train.parquet"
    pd.DataFrame({"messages": conversations, "data_source": ["reczero/t", "reczero/t"]}).to_parquet(path)

    dataset = MultiTurnSFTDataset(str(path), tokenizer, cfg.data)
    assert len(dataset) == 2
    for i, messages in enumerate(conversations):
        item = dataset[i]
        ids, mask = item["input_ids"], item["loss_mask"]
        assert len(ids) <= cfg.data.max_length
        answer = messages[-1]["content"]
        trained = tokenizer.decode(ids[mask.bool()], skip_special_tokens=False)
        # Loss on the assistant turn only: its content and the end-of-turn token, nothing of system or user.
        assert trained.startswith(answer) and trained[len(answer) :].strip() == "<|im_end|>"
        assert int(mask[: len(ids) - int(mask.sum())].sum()) == 0  # everything before the answer is masked
        untrained = tokenizer.decode(ids[~mask.bool()], skip_special_tokens=False)
        assert prompt[0]["content"] in untrained and prompt[1]["content"] in untrained
