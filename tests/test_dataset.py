# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""RecZeroDataset through verl's own ``create_rl_dataset``, on CPU, with the tiny tokenizer.

The parquet files are written here with the prepared-sample contract's arrow schema; the data config is verl's own
``ppo_trainer`` defaults composed by hydra, with our class plugged in by ``data.custom_cls``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reczero_verl.dataset import (
    BudgetOptions,
    PromptBudgeter,
    RecZeroDataset,
    Rendering,
    RowShape,
    _first_fit_in_stage,
    candidate_stages,
    halving_ladder,
    keep_counts,
)
from reczero_verl.template import build_messages, prefill_chat_template, system_prompt
from tests.builders import CONTRACT_SCHEMA

WORDS = "great fit comfortable running shoes too small quality arrived quickly loves color size".split()
MAX_PROMPT_LENGTH = 700


def review(seed: int, n_words: int) -> str:
    return " ".join(WORDS[(seed * 7 + k * 3) % len(WORDS)] for k in range(n_words))


def sample_row(
    index: int, n_user: int, n_item: int, review_words: int, scale: tuple[float, float] = (1.0, 5.0)
) -> dict[str, Any]:
    """One contract row; user history titles are ``Film U<index>-<k>`` (k=0 oldest) so tests can find them."""
    lo, hi = scale
    row: dict[str, Any] = {
        "data_source": "reczero/unit",
        "ability": "rating_prediction",
        "reward_model": {"style": "rule", "ground_truth": hi - 1},
        "extra_info": {
            "split": "train",
            "index": index,
            "user_id": f"u{index}",
            "item_id": f"t{index}",
            "timestamp": 1_700_000_000 + index,
            "rating_min": lo,
            "rating_max": hi,
        },
        "user_history": [
            {
                "item_id": f"i{index}-{k}",
                "rating": lo + (k % int(hi - lo + 1)),
                "timestamp": 1_600_000_000 + k,
                "title": f"Film U{index}-{k}",
                "review": review(k, review_words),
            }
            for k in range(n_user)
        ],
        "item_history": [
            {"user_id": f"v{k}", "rating": hi - (k % 2), "timestamp": 1_600_000_000 + k, "review": review(k + 1, 9)}
            for k in range(n_item)
        ],
        "target_item": {
            "item_id": f"t{index}",
            "title": f"Target {index}",
            "categories": "Shoes, Running",
            "brand": None,
            "description": review(index, 12),
            "features": None,
            "details": None,
        },
        "user_avg_rating": lo + 2.5,
        "item_avg_rating": None,
        "user_profile": None,
        "item_profile": None,
    }
    row["prompt"] = build_messages(row, variant="tbr", rating_min=lo, rating_max=hi)
    return row


def write_parquet(rows: list[dict[str, Any]], path: Path, schema: pa.Schema = CONTRACT_SCHEMA) -> str:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return str(path)


@pytest.fixture(scope="module")
def verl_data_config():
    """verl's ``data`` defaults (``ppo_trainer`` composed by hydra), as a plain dict to copy per test."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        cfg = compose(config_name="ppo_trainer")
    return OmegaConf.to_container(cfg.data, resolve=True)


def data_config(base: dict[str, Any], tmp_path: Path, **overrides: Any):
    from omegaconf import OmegaConf

    cfg = dict(base)
    cfg.update(
        max_prompt_length=MAX_PROMPT_LENGTH,
        custom_cls={"path": "pkg://reczero_verl.dataset", "name": "RecZeroDataset"},
    )
    cfg.update(overrides)
    return OmegaConf.create(cfg)


def n_tokens(tokenizer, messages: list[dict[str, str]]) -> int:
    """Prompt length exactly as verl's agent loop and overlong filter compute it."""
    from verl.utils.tokenizer import normalize_token_ids

    return len(normalize_token_ids(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)))


def build(paths: list[str], cfg, tokenizer):
    from verl.trainer.ppo.utils import create_rl_dataset

    return create_rl_dataset(paths, cfg, tokenizer, None, is_train=True)


def user_titles(content: str) -> list[str]:
    return re.findall(r"Film U\d+-(\d+)", content)


@pytest.mark.parametrize(
    ("n_user", "n_item", "n_drop", "floor", "expected"),
    [
        (10, 10, 0, 0, (10, 10)),
        (10, 10, 1, 0, (10, 9)),  # tie: the item history goes first
        (10, 10, 2, 0, (9, 9)),
        (10, 4, 3, 0, (7, 4)),  # the longer history goes first
        (10, 4, 7, 0, (4, 3)),  # 6 from the user history, then the tie goes to the item history
        (5, 5, 100, 3, (3, 3)),  # never below the floor
        (2, 8, 6, 3, (2, 3)),  # a history already under the floor is untouched
        (3, 3, 6, 0, (0, 0)),
    ],
)
def test_keep_counts_drops_the_longer_history_first(n_user, n_item, n_drop, floor, expected):
    assert keep_counts(n_user, n_item, n_drop, floor) == expected


def test_halving_ladder_and_stages_only_shorten():
    assert halving_ladder(400, 16) == [200, 100, 50, 25]
    assert halving_ladder(20, 16) == []
    options = BudgetOptions(max_review_chars=400, max_field_chars=200, min_history=2)
    stages = candidate_stages(RowShape(n_user=5, n_item=4, longest_review=120, longest_field=90), options)
    a, b, c, d = stages
    assert [(p.keep_user, p.keep_item) for p in a] == [(4, 4), (4, 3), (3, 3), (3, 2), (2, 2)]
    # Reviews: the ladder starts below the longest review (120), not below the configured 400; then no reviews.
    assert [p.review_chars for p in b] == [60, 30, 0] and {(p.keep_user, p.keep_item) for p in b} == {(2, 2)}
    assert [p.field_chars for p in c] == [45] and all(p.review_chars == 0 for p in c)
    assert [(p.keep_user, p.keep_item) for p in d] == [(2, 1), (1, 1), (1, 0), (0, 0)]
    assert d[-1] == Rendering(0, 0, 0, 45)


def test_counts_match_verl_tokenization_for_any_chat_template(tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    conversations = [sample_row(i, n_user=i, n_item=2, review_words=5 * i)["prompt"] for i in range(1, 6)]
    for template in (None, prefill_chat_template()):
        if template is not None:  # what HFModelConfig does with actor_rollout_ref.model.custom_chat_template
            tokenizer.chat_template = template
        budgeter = PromptBudgeter(tokenizer, BudgetOptions(), MAX_PROMPT_LENGTH)
        assert budgeter.count_tokens(conversations) == [n_tokens(tokenizer, m) for m in conversations]


def test_create_rl_dataset_fits_long_prompts_and_keeps_short_ones(tiny_tokenizer, verl_data_config, tmp_path, caplog):
    from verl.utils.dataset.rl_dataset import collate_fn

    rows = [sample_row(0, 2, 2, 6), sample_row(1, 10, 10, 40), sample_row(2, 1, 3, 4), sample_row(3, 10, 6, 60)]
    options = BudgetOptions()
    first = [build_messages(r, max_review_chars=options.max_review_chars, max_field_chars=1500) for r in rows]
    too_long = [n_tokens(tiny_tokenizer, m) > MAX_PROMPT_LENGTH for m in first]
    assert too_long == [False, True, False, True]  # the premise of this test, measured
    cfg = data_config(verl_data_config, tmp_path)

    with caplog.at_level(logging.INFO, logger="reczero_verl.dataset"):
        ds = build([write_parquet(rows, tmp_path / "train.parquet")], cfg, tiny_tokenizer)

    assert type(ds) is RecZeroDataset
    report = ds.budget_report
    assert (report.rows, report.fit, report.shortened, report.overlong, report.malformed) == (4, 2, 2, 0, 0)
    summary = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("4 rows, 2 fit as rendered, 2 shortened to fit, 0 still overlong" in m for m in summary), summary
    assert len(ds) == 4

    items = [ds[i] for i in range(len(ds))]
    for item, row in zip(items, rows, strict=True):
        for key in ("raw_prompt", "dummy_tensor", "index", "tools_kwargs", "interaction_kwargs", "data_source"):
            assert key in item
        assert item["index"] == row["extra_info"]["index"]
        assert item["reward_model"]["ground_truth"] == row["reward_model"]["ground_truth"]
        assert n_tokens(tiny_tokenizer, item["raw_prompt"]) <= MAX_PROMPT_LENGTH
        assert item["raw_prompt"][0] == {"role": "system", "content": system_prompt("tbr", 1, 5)}
    batch = collate_fn(items)
    assert batch["dummy_tensor"].shape == (4, 1) and len(batch["raw_prompt"]) == 4

    # Short prompts are exactly the rendering with the configured clipping.
    assert items[0]["raw_prompt"] == first[0] and items[2]["raw_prompt"] == first[2]
    # Long ones keep the most recent user history entries (a contiguous suffix) and lose the oldest.
    for item, row in ((items[1], rows[1]), (items[3], rows[3])):
        kept = sorted(int(k) for k in user_titles(item["raw_prompt"][1]["content"]))
        assert kept and kept == list(range(len(row["user_history"]) - len(kept), len(row["user_history"])))
        assert 0 not in kept
        assert "How will this user rate the target item?" in item["raw_prompt"][1]["content"]
        assert f"Target {row['extra_info']['index']}" in item["raw_prompt"][1]["content"]


def test_plain_variant_and_row_scale_via_hydra_override(tiny_tokenizer, tmp_path):
    """The documented way: ``+data.reczero.variant=plain`` on top of verl's ppo_trainer config."""
    from hydra import compose, initialize_config_module

    path = write_parquet([sample_row(0, 2, 2, 5, scale=(1.0, 10.0))], tmp_path / "train.parquet")
    overrides = [
        f"data.max_prompt_length={MAX_PROMPT_LENGTH}",
        "data.custom_cls.path=pkg://reczero_verl.dataset",
        "data.custom_cls.name=RecZeroDataset",
        "+data.reczero.variant=plain",
        "+data.reczero.min_history=1",
    ]
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        cfg = compose(config_name="ppo_trainer", overrides=overrides)
    ds = build([path], cfg.data, tiny_tokenizer)
    assert ds.budget_options == BudgetOptions(variant="plain", min_history=1)
    messages = ds[0]["raw_prompt"]
    assert messages[0]["content"] == system_prompt("plain", 1, 10) != system_prompt("tbr", 1, 10)
    assert "Rating scale: 1 to 10." in messages[1]["content"]


@pytest.mark.parametrize("filter_overlong", [False, True])
def test_overlong_prompts_are_counted_then_kept_shortest_or_dropped(
    tiny_tokenizer, verl_data_config, tmp_path, caplog, filter_overlong
):
    rows = [sample_row(i, 6, 6, 30) for i in range(3)]
    system_only = n_tokens(tiny_tokenizer, [build_messages(rows[0])[0]])
    limit = system_only + 10  # below any prompt with a user turn: nothing can fit
    cfg = data_config(verl_data_config, tmp_path, max_prompt_length=limit, filter_overlong_prompts=filter_overlong)

    with caplog.at_level(logging.INFO, logger="reczero_verl.dataset"):
        ds = build([write_parquet(rows, tmp_path / "train.parquet")], cfg, tiny_tokenizer)

    report = ds.budget_report
    assert (report.overlong, report.shortened, report.fit) == (3, 0, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3 prompt(s) exceed max_prompt_length" in m for m in warnings), warnings
    if filter_overlong:
        assert len(ds) == 0 and report.dropped_overlong == 3
    else:
        assert len(ds) == 3 and report.dropped_overlong == 0
        content = ds[0]["raw_prompt"][1]["content"]
        assert "Film U" not in content and "Ratings by other users" not in content  # the shortest rendering
        assert ds[0]["raw_prompt"][0]["content"] == system_prompt("tbr", 1, 5)  # never cut


def test_budget_follows_the_chat_template_verl_hands_over(tiny_tokenizer_dir, verl_data_config, tmp_path):
    """A custom chat template (here a long pre-filled generation prompt) counts against the budget."""
    from transformers import AutoTokenizer

    path = write_parquet([sample_row(0, 10, 10, 25)], tmp_path / "train.parquet")
    chosen = {}
    for name, template in (("chatml", None), ("prefill", prefill_chat_template("<analyze user> " + review(3, 60)))):
        tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
        if template is not None:  # what HFModelConfig does with actor_rollout_ref.model.custom_chat_template
            tokenizer.chat_template = template
        ds = build([path], data_config(verl_data_config, tmp_path), tokenizer)
        assert n_tokens(tokenizer, ds[0]["raw_prompt"]) <= MAX_PROMPT_LENGTH
        chosen[name] = (ds[0]["raw_prompt"], tokenizer)
    prefill_tokenizer = chosen["prefill"][1]
    # What fits under plain ChatML would overflow under the pre-filling template: the budget saw the template.
    assert n_tokens(prefill_tokenizer, chosen["chatml"][0]) > MAX_PROMPT_LENGTH
    assert len(chosen["prefill"][0][1]["content"]) < len(chosen["chatml"][0][1]["content"])


def test_prepare_output_goes_through_verl(tiny_tokenizer, verl_data_config, tmp_path):
    """``reczero-verl prepare`` on the bundled Amazon sample, then verl loads train + test through our class."""
    from importlib.resources import files

    from reczero_verl.prepare.cli import run_prepare

    sample = files("reczero_verl") / "sample_data"
    out = tmp_path / "prepared"
    run_prepare(
        ["amazon", "--reviews", str(sample / "amazon2018_sample_reviews.json.gz")]
        + ["--meta", str(sample / "amazon2018_sample_meta.json.gz"), "--output-dir", str(out)]
        + ["--max-train", "24", "--max-test", "4"]
    )
    paths = [str(out / "train.parquet"), str(out / "test.parquet")]
    stored = [row for path in paths for row in pq.read_table(path).to_pylist()]
    limit = 1600
    # prepare's text budgets are tighter than ours, so our first rendering is exactly the stored prompt.
    first = [n_tokens(tiny_tokenizer, row["prompt"]) for row in stored]
    long = sum(n > limit for n in first)
    assert 0 < long < len(stored)  # premise: both kinds present

    ds = build(paths, data_config(verl_data_config, tmp_path, max_prompt_length=limit), tiny_tokenizer)

    report = ds.budget_report
    assert (report.rows, report.shortened, report.fit, report.overlong) == (len(stored), long, len(stored) - long, 0)
    for i, row in enumerate(stored):
        item = ds[i]
        assert n_tokens(tiny_tokenizer, item["raw_prompt"]) <= limit
        assert item["raw_prompt"][0] == row["prompt"][0]
        if first[i] <= limit:
            assert item["raw_prompt"] == row["prompt"]


def test_files_without_structured_columns_are_used_as_stored(tiny_tokenizer, verl_data_config, tmp_path, caplog):
    stored = [{"role": "user", "content": "Rate item 7 for user 3. <analyze user>"}]
    table = pa.table(
        {
            "data_source": ["rec_rate_format"],
            "ability": ["rec_rate"],
            "prompt": [stored],
            "reward_model": [{"style": "rule", "ground_truth": "4"}],
            "extra_info": [{"index": 0, "split": "test"}],
        }
    )
    pq.write_table(table, tmp_path / "fork.parquet")
    with caplog.at_level(logging.INFO, logger="reczero_verl.dataset"):
        ds = build([str(tmp_path / "fork.parquet")], data_config(verl_data_config, tmp_path), tiny_tokenizer)
    assert ds.budget_report is None
    assert ds[0]["raw_prompt"] == stored
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "prompts are used as stored" in warnings[0]


def test_malformed_rows_keep_their_prompt_and_are_reported(tiny_tokenizer, verl_data_config, tmp_path, caplog):
    good, bad = sample_row(0, 2, 2, 5), sample_row(1, 2, 2, 5)
    bad["extra_info"]["rating_min"] = 5.0  # invalid scale: min == max
    path = write_parquet([good, bad], tmp_path / "train.parquet")
    with caplog.at_level(logging.INFO, logger="reczero_verl.dataset"):
        ds = build([path], data_config(verl_data_config, tmp_path), tiny_tokenizer)
    assert (ds.budget_report.fit, ds.budget_report.malformed) == (1, 1)
    assert ds[1]["raw_prompt"] == bad["prompt"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("extra_info.index=1" in m and "invalid rating scale" in m for m in warnings), warnings

    strict = data_config(verl_data_config, tmp_path, reczero={"strict": True})
    with pytest.raises(ValueError, match="extra_info.index=1"):
        build([path], strict, tiny_tokenizer)


def test_unknown_or_invalid_options_raise():
    with pytest.raises(ValueError, match="varient"):
        BudgetOptions.from_data_config({"reczero": {"varient": "plain"}})
    with pytest.raises(ValueError, match="variant"):
        BudgetOptions.from_data_config({"reczero": {"variant": "cot"}})
    with pytest.raises(ValueError, match="min_history"):
        BudgetOptions(min_history=-1)
    assert BudgetOptions.from_data_config({}) == BudgetOptions()


def drive(stage_tokens: list[int], budget: int, guess: int) -> tuple[Any, int, int]:
    """Run the stage search against fixed token counts; returns (index, n_tokens, number of measurements)."""
    plans = [Rendering(k, 0, None, None) for k in range(len(stage_tokens))]
    search = _first_fit_in_stage(plans, budget, guess)
    probes, plan = 1, next(search)
    while True:
        try:
            plan = search.send(stage_tokens[plan.keep_user])
            probes += 1
        except StopIteration as stop:
            return (*stop.value, probes)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 18])
def test_stage_search_finds_the_first_fitting_plan_from_any_guess(size):
    budget = 100
    for first_fit in range(size + 1):  # size: nothing fits
        tokens = [150 - k for k in range(first_fit)] + [100 - k for k in range(size - first_fit)]
        for guess in range(size):
            index, n, probes = drive(tokens, budget, guess)
            if first_fit == size:
                assert (index, n) == (None, tokens[-1])
            else:
                assert (index, n) == (first_fit, tokens[first_fit])
            if guess == first_fit and first_fit > 0:
                assert probes == 2  # an exact guess costs the guess and its neighbour
