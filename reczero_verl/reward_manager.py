# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``reczero`` reward manager, registered into verl when ``import verl`` loads our ``verl.plugins`` entry point.

It is verl's naive reward manager (one response at a time, response-only ``solution_str``) whose default scoring
function is :func:`reczero_verl.reward.compute_score`, so a recipe needs only ``reward.reward_manager.name=reczero``.
The reward options (``mode``, ``format_weight``, ``prefilled_prefix``) are read from
``reward.custom_reward_function.reward_kwargs`` exactly as verl reads them for a custom function; an explicit
``reward.custom_reward_function.path`` still wins, as it does for every verl reward manager.
"""

from __future__ import annotations

import functools
from typing import Any

from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
from verl.utils.reward_score import default_compute_score

from reczero_verl.reward import compute_score as reczero_compute_score

__all__ = ["REWARD_MANAGER_NAME", "RecZeroRewardManager", "default_reward_fn"]

#: The name recipes use: ``reward.reward_manager.name=reczero``.
REWARD_MANAGER_NAME = "reczero"


def default_reward_fn(config: Any) -> functools.partial:
    """Our ``compute_score`` with the ``reward.custom_reward_function.reward_kwargs`` of ``config`` bound."""
    reward_fn_cfg = config.reward.get("custom_reward_function") or {}
    reward_kwargs = dict(reward_fn_cfg.get("reward_kwargs") or {})
    return functools.partial(reczero_compute_score, **reward_kwargs)


@register(REWARD_MANAGER_NAME)
class RecZeroRewardManager(NaiveRewardManager):
    """Naive reward manager scoring with the RecZero reward unless a custom reward function is configured."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        # verl hands every manager its generic default scorer when no custom path is set: replace exactly that.
        if compute_score is None or compute_score is default_compute_score:
            compute_score = default_reward_fn(config)
        super().__init__(
            config,
            tokenizer,
            compute_score,
            reward_router_address=reward_router_address,
            reward_model_tokenizer=reward_model_tokenizer,
        )
