# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Run a function right after a named module has been imported (a post-import hook).

Why: the ``verl.plugins`` entry point runs in every verl process (each Ray worker too) on ``import verl``, so it must
cost almost nothing. Registering into verl's reward-manager, rollout or engine registries needs those (heavy) modules;
with a hook, the registration happens exactly when verl itself imports the registry, and never otherwise.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

logger = logging.getLogger(__name__)

Callback = Callable[[ModuleType], None]

__all__ = ["when_imported"]


class _HookedLoader(importlib.abc.Loader):
    """Delegates to the real loader, then calls the callbacks on the fully executed module."""

    def __init__(self, loader: importlib.abc.Loader, callbacks: list[Callback]):
        self._loader = loader
        self._callbacks = callbacks

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The spec keeps the real loader for anyone who inspects it (importlib.reload, resources...).
        module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        for callback in self._callbacks:
            callback(module)

    def __getattr__(self, name: str):  # get_resource_reader, is_package, get_source...
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """A meta-path finder that only wraps the loaders of watched module names."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callback]] = {}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        callbacks = self.callbacks.pop(fullname, None)
        if callbacks is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            self.callbacks[fullname] = callbacks  # not importable now: keep watching
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            self.callbacks[fullname] = callbacks
            return spec
        spec.loader = _HookedLoader(spec.loader, callbacks)
        return spec


def _finder() -> _PostImportFinder:
    for finder in sys.meta_path:
        if isinstance(finder, _PostImportFinder):
            return finder
    finder = _PostImportFinder()
    sys.meta_path.insert(0, finder)
    return finder


def when_imported(module_name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``module_name`` is imported; at once if it already is.

    The callback runs after the module's own code, so everything the module defines is there. An exception in the
    callback propagates to the importer: a registration that fails must not pass silently.
    """
    module = sys.modules.get(module_name)
    if module is not None:
        callback(module)
        return
    _finder().callbacks.setdefault(module_name, []).append(callback)
