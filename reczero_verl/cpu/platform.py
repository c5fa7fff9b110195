# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``cpu`` platform for verl's platform registry (``verl/plugin/platform``).

verl asks its platform for the device name, the ``torch.<device>`` module, the collective backend and the Ray
resource that places workers. On CPU: device ``cpu``, backend ``gloo``, and Ray's ``GPU`` slots as the resource that
counts training processes (the CPU overlay gives Ray as many as the recipe's ``n_gpus_per_node``), so verl's
scheduler, placement groups and rank bookkeeping work unchanged.
"""

from __future__ import annotations

import contextlib
import os
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
from verl.plugin.platform.platform_base import PlatformBase

__all__ = ["PlatformCPU", "cpu_device_module"]


def _mem_get_info() -> tuple[int, int]:
    """(free, total) bytes of host memory, as ``torch.cuda.mem_get_info`` reports device memory (verl logs it)."""
    page = os.sysconf("SC_PAGE_SIZE")
    return int(os.sysconf("SC_AVPHYS_PAGES") * page), int(os.sysconf("SC_PHYS_PAGES") * page)


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


def _zero(*_args: Any, **_kwargs: Any) -> int:
    return 0


def cpu_device_module() -> ModuleType:
    """A stand-in for ``torch.cuda``: ``torch.cpu`` plus the calls verl makes on its device module.

    Memory statistics are zero (there is no device allocator), caches are no-ops, and the RNG state is torch's
    global CPU generator. ``get_device_name`` returns a string: verl's FLOPs counter matches on it.
    """
    namespace = SimpleNamespace(
        **{name: getattr(torch.cpu, name) for name in dir(torch.cpu) if not name.startswith("_")},
    )
    namespace.__name__ = "reczero_verl.cpu.device"
    namespace.is_available = lambda: True
    namespace.current_device = lambda: "cpu"
    namespace.device_count = lambda: 1
    namespace.set_device = _noop
    namespace.get_device_name = lambda *_args: "cpu"
    namespace.empty_cache = _noop
    namespace.ipc_collect = _noop
    namespace.set_per_process_memory_fraction = _noop
    namespace.reset_peak_memory_stats = _noop
    namespace.memory_allocated = _zero
    namespace.memory_reserved = _zero
    namespace.max_memory_allocated = _zero
    namespace.max_memory_reserved = _zero
    namespace.mem_get_info = lambda *_args: _mem_get_info()
    namespace.manual_seed = torch.manual_seed
    namespace.manual_seed_all = torch.manual_seed
    namespace.get_rng_state = lambda *_args: torch.get_rng_state()
    namespace.set_rng_state = lambda state, *_args: torch.set_rng_state(state)
    namespace.is_bf16_supported = lambda *_args, **_kwargs: True
    return namespace  # type: ignore[return-value]


class PlatformCPU(PlatformBase):
    """verl's platform interface on the host CPU (gloo collectives, Ray ``GPU`` slots as process slots)."""

    def __init__(self) -> None:
        self._device_module = cpu_device_module()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: the CPU backend is used only when VERL_PLATFORM=cpu selects it.
        return False

    def current_device(self) -> str:  # type: ignore[override]
        # verl moves tensors with `.to(get_device_id())`: "cpu" is the device, not an index.
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray sets it for the GPU slots it hands out; on CPU nothing reads it.
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None
