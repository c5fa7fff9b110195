# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The plugin proven through verl 0.9.1's own code paths on CPU.

Reward: a recipe-style hydra config (searchpath ``pkg://verl.trainer.config``) builds verl's own ``RewardLoopWorker``
(the object the trainer runs in Ray, here in-process), which loads our reward through ``load_reward_manager``
and scores tokenized TbR responses exactly as in training. GRPO advantages and validation metrics go through verl's
``core_algos`` and ``metric_utils``.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from reczero_verl.reward import REWARD_KEYS, compute_score

RESPONSES = [
    # (response text, ground truth, rating scale)
    (
        "<analyze user>Rates comfort highly.</analyze user>\n<analyze item>Soft, true to size.</analyze item>\n"
        "<match>Strong fit.</match>\n<rate>4.5</rate>",
        5.0,
        (1.0, 5.0),
    ),
    ("<rate>4</rate>", 2.0, (1.0, 5.0)),
    ("I think the user would give it four stars.", 3.0, (1.0, 5.0)),
    (
        "<analyze user>Loves noir.</analyze user><analyze item>A slow drama.</analyze item><match>Poor.</match>"
        "<rate>3</rate>",
        7.0,
        (1.0, 10.0),
    ),
]


def same_scores(a: dict, b: dict) -> bool:
    """Dict equality where NaN equals NaN (``pred`` of an unparsed answer)."""
    if set(a) != set(b):
        return False
    return all(
        (math.isnan(a[k]) and math.isnan(b[k])) if isinstance(a[k], float) and a[k] != a[k] else a[k] == b[k] for k in a
    )


def write_recipe(directory: Path, body: str) -> Path:
    """A recipe YAML composed on top of verl's ppo_trainer, as every recipe of this project is."""
    header = "hydra:\n  searchpath:\n    - pkg://verl.trainer.config\ndefaults:\n  - ppo_trainer\n  - _self_\n"
    path = directory / "recipe.yaml"
    path.write_text(header + textwrap.dedent(body))
    return path


def compose(recipe: Path, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(recipe.parent), version_base=None):
        return hydra_compose(config_name=recipe.stem, overrides=overrides)


def make_batch(tokenizer, responses):
    """A DataProto shaped like the rollout output the reward workers receive (left-padded prompts, right-padded
    responses ending with EOS)."""
    from verl import DataProto

    prompt_ids = tokenizer("Rate the item.", add_special_tokens=False)["input_ids"]
    resp_ids = [
        tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text, _, _ in responses
    ]
    width = max(map(len, resp_ids)) + 3
    pad = tokenizer.pad_token_id
    prompts = torch.tensor([prompt_ids] * len(responses))
    responses_t = torch.tensor([ids + [pad] * (width - len(ids)) for ids in resp_ids])
    resp_mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in resp_ids])
    attention_mask = torch.cat([torch.ones_like(prompts), resp_mask], dim=1)
    batch = {
        "prompts": prompts,
        "responses": responses_t,
        "input_ids": torch.cat([prompts, responses_t], dim=1),
        "attention_mask": attention_mask,
    }
    non_tensor = {
        "data_source": np.array(["reczero/test"] * len(responses), dtype=object),
        "reward_model": np.array([{"style": "rule", "ground_truth": y} for _, y, _ in responses], dtype=object),
        "extra_info": np.array(
            [{"index": i, "rating_min": lo, "rating_max": hi} for i, (_, _, (lo, hi)) in enumerate(responses)],
            dtype=object,
        ),
    }
    return DataProto.from_dict(tensors=batch, non_tensors=non_tensor)


def run_worker(config, data):
    """Score ``data`` with verl's own RewardLoopWorker, as the trainer's reward loop does."""
    from verl.experimental.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(config)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    return worker, outputs


def expected_scores(**kwargs):
    return [
        compute_score(
            data_source="reczero/test",
            solution_str=text,
            ground_truth=y,
            extra_info={"rating_min": lo, "rating_max": hi},
            **kwargs,
        )
        for text, y, (lo, hi) in RESPONSES
    ]


def test_import_verl_alone_registers_the_reczero_manager():
    """verl swallows plugin load errors at debug level: prove in a fresh interpreter that `import verl` suffices."""
    code = (
        "import verl\n"
        "from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls\n"
        "print(get_reward_manager_cls('reczero').__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "reczero_verl.reward_manager"


def test_entry_point_is_declared():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    assert eps.get("reczero") == "reczero_verl.plugin"


@pytest.fixture(scope="module")
def batch(tiny_tokenizer):
    return make_batch(tiny_tokenizer, RESPONSES)


def test_reczero_manager_through_verl_reward_loop(tmp_path, tiny_tokenizer_dir, batch):
    recipe = write_recipe(
        tmp_path,
        """
        reward:
          reward_manager:
            name: reczero
        """,
    )
    config = compose(recipe, [f"actor_rollout_ref.model.path={tiny_tokenizer_dir}"])
    worker, outputs = run_worker(config, batch)
    assert type(worker.reward_manager).__name__ == "RecZeroRewardManager"
    for out, expected in zip(outputs, expected_scores(), strict=True):
        assert out["reward_score"] == expected["score"]
        assert same_scores(out["reward_extra_info"], expected)
        assert tuple(out["reward_extra_info"]) == REWARD_KEYS


@pytest.mark.parametrize("mode", ["format_only", "accuracy_only"])
def test_reczero_manager_reads_reward_kwargs(tmp_path, tiny_tokenizer_dir, batch, mode):
    recipe = write_recipe(
        tmp_path,
        f"""
        reward:
          reward_manager:
            name: reczero
          custom_reward_function:
            reward_kwargs:
              mode: {mode}
              format_weight: 0.25
        """,
    )
    config = compose(recipe, [f"actor_rollout_ref.model.path={tiny_tokenizer_dir}"])
    _, outputs = run_worker(config, batch)
    for out, expected in zip(outputs, expected_scores(mode=mode, format_weight=0.25), strict=True):
        assert same_scores(out["reward_extra_info"], expected)


def test_custom_reward_function_path_through_naive_manager(tmp_path, tiny_tokenizer_dir, batch):
    recipe = write_recipe(tmp_path, "")
    config = compose(
        recipe,
        [
            f"actor_rollout_ref.model.path={tiny_tokenizer_dir}",
            "reward.custom_reward_function.path=pkg://reczero_verl.reward",
            "reward.custom_reward_function.name=compute_score",
            "+reward.custom_reward_function.reward_kwargs.mode=accuracy_only",
        ],
    )
    assert config.reward.reward_manager.name == "naive"
    worker, outputs = run_worker(config, batch)
    assert type(worker.reward_manager).__name__ == "NaiveRewardManager"
    for out, expected in zip(outputs, expected_scores(mode="accuracy_only"), strict=True):
        assert out["reward_score"] == expected["score"]
        assert same_scores(out["reward_extra_info"], expected)


def test_scores_land_on_the_last_response_token(tmp_path, tiny_tokenizer_dir, batch):
    from verl.trainer.ppo.reward import resolve_reward_manager_cls

    recipe = write_recipe(tmp_path, "reward:\n  reward_manager:\n    name: reczero\n")
    config = compose(recipe, [f"actor_rollout_ref.model.path={tiny_tokenizer_dir}"])
    _, outputs = run_worker(config, batch)
    scores = [o["reward_score"] for o in outputs]
    rm_scores = resolve_reward_manager_cls(config).assemble_rm_scores(batch, scores)
    lengths = batch.batch["attention_mask"][:, batch.batch["prompts"].shape[1] :].sum(-1)
    for i, n in enumerate(lengths.tolist()):
        assert rm_scores[i, n - 1].item() == pytest.approx(scores[i])
        assert rm_scores[i].sum().item() == pytest.approx(scores[i])


def test_grpo_advantages_over_a_group_of_our_rewards():
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    texts = [RESPONSES[0][0].replace("4.5", r) for r in ("5", "4", "2", "1")] + ["no answer", "<rate>5</rate>"]
    rewards = [compute_score(solution_str=t, ground_truth=5.0)["score"] for t in texts]
    length = 4
    token_rewards = torch.zeros(len(texts), length)
    token_rewards[:, -1] = torch.tensor(rewards)
    mask = torch.ones(len(texts), length)
    index = np.array(["a", "a", "a", "b", "b", "b"], dtype=object)
    adv, _ = get_adv_estimator_fn("grpo")(token_level_rewards=token_rewards, response_mask=mask, index=index)
    for group in (slice(0, 3), slice(3, 6)):
        r = torch.tensor(rewards[group])
        expected = (r - r.mean()) / (r.std() + 1e-6)  # verl's GRPO: unbiased std per group
        assert torch.allclose(adv[group, 0], expected, atol=1e-5)
        assert torch.allclose(adv[group], adv[group, :1].expand(-1, length))
    # The best answer of a group gets the largest advantage: 5 beats 4 beats 2.
    assert adv[0, 0] > adv[1, 0] > adv[2, 0]


def test_validation_metrics_per_data_source():
    from verl.trainer.ppo.metric_utils import process_validation_metrics

    rows = [
        ("reczero/book", "u1", RESPONSES[0][0], 5.0, 5.0),
        ("reczero/book", "u2", "nothing parsable", 2.0, 5.0),
        ("reczero/imdb", "u3", RESPONSES[3][0], 7.0, 10.0),
    ]
    scores = [compute_score(solution_str=t, ground_truth=y, extra_info={"rating_max": hi}) for _, _, t, y, hi in rows]
    infos = {key: [s[key] for s in scores] for key in REWARD_KEYS}
    metrics = process_validation_metrics([r[0] for r in rows], [r[1] for r in rows], infos)
    book, imdb = metrics["reczero/book"], metrics["reczero/imdb"]
    assert book["abs_error"]["mean@1"] == pytest.approx((0.5 + 4.0) / 2)  # unparsed counts at max error 4
    assert book["acc"]["mean@1"] == pytest.approx((1 - 0.5 / 4 + 0.0) / 2)
    assert book["parsed"]["mean@1"] == pytest.approx(0.5)
    assert imdb["abs_error"]["mean@1"] == pytest.approx(4.0)
    assert imdb["acc"]["mean@1"] == pytest.approx(1 - 4 / 9)
