# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``verl.plugins`` entry point: ``import verl`` runs this in every verl process, each Ray worker included.

It must cost next to nothing (``benchmarks/bench_plugin_import.py``), so it only arranges things:

* the ``reczero`` reward manager (:mod:`reczero_verl.reward_manager`) is registered when verl imports its reward
  manager registry, not before (importing it here would pull verl's whole reward loop into every process);
* the CPU backend (:mod:`reczero_verl.cpu`) is installed only when ``VERL_PLATFORM=cpu`` selects it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from reczero_verl import cpu
from reczero_verl.import_hooks import when_imported

#: verl's reward-manager package; importing it builds the registry that ``reward.reward_manager.name`` reads.
REWARD_MANAGER_PACKAGE = "verl.experimental.reward_loop.reward_manager"


def _register_reward_manager(_package: ModuleType) -> None:
    importlib.import_module("reczero_verl.reward_manager")


def install() -> None:
    """Arrange the plugin's registrations in this process (see the module docstring)."""
    when_imported(REWARD_MANAGER_PACKAGE, _register_reward_manager)
    if cpu.is_selected():
        cpu.activate()


install()
