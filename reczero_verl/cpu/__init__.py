# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The CPU backend: verl's own trainers (GRPO through ``main_ppo``, SFT through ``sft_trainer``) on a machine with no
accelerator, for CI, the quickstart and anyone checking a recipe before renting GPUs.

Selected by ``VERL_PLATFORM=cpu`` in the environment of the verl process (Ray passes it on to every worker); inert
otherwise: :func:`activate` is then never called and verl runs exactly its stock code. Once selected, and each only
when verl imports the module concerned (:mod:`reczero_verl.import_hooks`):

* the ``cpu`` platform is registered (:mod:`.platform`);
* the transformers rollout ``hf`` is registered as a replica and a worker-side adapter (:mod:`.rollout`);
* verl's FSDP engine is registered for the ``cpu`` device too (it is registered for cuda and npu only);
* two runtime replacements are applied (:mod:`.verl_fixes`).

The Hydra side (rollout name, Ray slots, worker counts, attention) is ``recipes/platform/cpu.yaml``.
"""

from __future__ import annotations

import os
from types import ModuleType

from reczero_verl.import_hooks import when_imported

__all__ = ["PLATFORM_NAME", "ENV_VAR", "is_selected", "activate"]

#: The platform name, as ``VERL_PLATFORM`` selects it.
PLATFORM_NAME = "cpu"
#: verl's own platform selector (``verl/plugin/platform/platform_manager.py:92``).
ENV_VAR = "VERL_PLATFORM"


def is_selected(environ: os._Environ | dict[str, str] = os.environ) -> bool:
    """True when this process was told to run verl on the CPU backend."""
    return environ.get(ENV_VAR, "").strip().lower() == PLATFORM_NAME


def _register_platform(platform_manager: ModuleType) -> None:
    from reczero_verl.cpu.platform import PlatformCPU

    platform_manager.PlatformRegistry.register(platform=PLATFORM_NAME)(PlatformCPU)


def _register_replica(replica: ModuleType) -> None:
    from reczero_verl.cpu import rollout

    replica.RolloutReplicaRegistry.register(rollout.ROLLOUT_NAME, lambda: rollout.HFReplica)


def _register_adapter(rollout_base: ModuleType) -> None:
    # verl offers no register function for worker-side adapters: its lookup table maps (name, mode) to a class path.
    rollout_base._ROLLOUT_REGISTRY[("hf", "async")] = "reczero_verl.cpu.rollout.HFServerAdapter"


def _register_fsdp_engine(transformer_impl: ModuleType) -> None:
    """Register every engine verl's FSDP module registers for cuda under the ``cpu`` device as well."""
    from reczero_verl.cpu.verl_fixes import fix_offload_policy

    registry = transformer_impl.EngineRegistry
    for model_type, backends in list(registry._engines.items()):
        for backend, by_device in list(backends.items()):
            engine = by_device.get("cuda")
            if engine is not None and engine.__module__ == transformer_impl.__name__ and "cpu" not in by_device:
                registry.register(model_type=model_type, backend=backend, device=PLATFORM_NAME)(engine)
    fix_offload_policy(transformer_impl)


def _fix_distributed(distributed: ModuleType) -> None:
    from reczero_verl.cpu.verl_fixes import fix_process_group

    fix_process_group(distributed)


def activate() -> None:
    """Install the CPU backend into this process (idempotent hooks; each acts when verl imports its module)."""
    when_imported("verl.plugin.platform.platform_manager", _register_platform)
    when_imported("verl.workers.rollout.replica", _register_replica)
    when_imported("verl.workers.rollout.base", _register_adapter)
    when_imported("verl.workers.engine.fsdp.transformer_impl", _register_fsdp_engine)
    when_imported("verl.utils.distributed", _fix_distributed)
