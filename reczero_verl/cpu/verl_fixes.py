# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The two places where verl 0.9.1 needs a runtime replacement, not a registration, to run on CPU.

Applied only when the ``cpu`` platform is selected (:func:`reczero_verl.cpu.activate`), each when verl imports the
module concerned. Each has an upstream fix in ``upstream/`` and a test (``tests/test_cpu_backend.py``) that fails once
installed verl no longer needs it.

1. ``verl/utils/distributed.py:63`` and ``:89`` build the backend string ``"cpu:gloo,{device}:{backend}"``, which is
   ``"cpu:gloo,cpu:gloo"`` on CPU; torch rejects it ("Duplicate device type cpu in backend string"). Replaced by
   functions that pass ``"cpu:gloo"``.
2. ``verl/workers/engine/fsdp/transformer_impl.py:462`` gives every FSDP2 forward-only module (the reference model)
   ``CPUOffloadPolicy(pin_memory=True)``; pinning needs an accelerator ("Cannot access accelerator device when none is
   available"). Replaced by the same policy without pinning (on CPU the parameters are in host memory anyway).
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import timedelta
from types import ModuleType

logger = logging.getLogger(__name__)

__all__ = ["CPU_BACKEND", "fix_process_group", "fix_offload_policy"]

#: The only valid process-group backend string on CPU.
CPU_BACKEND = "cpu:gloo"


def fix_process_group(distributed: ModuleType) -> None:
    """Replace the two process-group initialisers of ``verl.utils.distributed`` (fix 1).

    Callers that import the names later (``verl/workers/engine_workers.py:38``, ``trainer/sft_trainer.py:453``) get
    these, because the hook runs as soon as ``verl.utils.distributed`` itself is imported.
    """
    import torch.distributed

    def initialize_global_process_group(timeout_second: int = 36000) -> tuple[int, int, int]:
        torch.distributed.init_process_group(
            backend=CPU_BACKEND,
            timeout=timedelta(seconds=timeout_second),
            init_method=os.environ.get("DIST_INIT_METHOD", None),
        )
        return int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])

    stock_ray_init = distributed.initialize_global_process_group_ray

    def initialize_global_process_group_ray(timeout_second: int | None = None, backend: str | None = None) -> None:
        return stock_ray_init(timeout_second=timeout_second, backend=backend or CPU_BACKEND)

    initialize_global_process_group.__doc__ = distributed.initialize_global_process_group.__doc__
    initialize_global_process_group_ray.__doc__ = stock_ray_init.__doc__
    distributed.initialize_global_process_group = initialize_global_process_group
    distributed.initialize_global_process_group_ray = initialize_global_process_group_ray
    logger.debug("reczero cpu backend: verl.utils.distributed process-group initialisers use %r", CPU_BACKEND)


def fix_offload_policy(transformer_impl: ModuleType) -> None:
    """Make ``CPUOffloadPolicy`` in verl's FSDP engine module ignore ``pin_memory`` (fix 2)."""
    stock = transformer_impl.CPUOffloadPolicy
    if stock is None:  # torch without FSDP2: nothing to fix
        return

    @functools.wraps(stock, updated=())
    def unpinned_offload_policy(*args, **kwargs):
        kwargs["pin_memory"] = False
        return stock(*args, **kwargs)

    transformer_impl.CPUOffloadPolicy = unpinned_offload_policy
    logger.debug("reczero cpu backend: FSDP2 CPUOffloadPolicy without pinned memory")
