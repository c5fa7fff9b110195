# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The engine consumes what the source adapters hand it and never reaches back into them (issue 10, item 7)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reczero_verl.prepare as prepare_pkg

PREPARE = Path(prepare_pkg.__file__).parent
#: Modules that run while the pipeline runs: none may import the adapters (sources.py) or the command line.
ENGINE = ("pipeline.py", "samples.py", "ranking.py", "render.py", "store.py", "items.py", "schema.py", "sql.py")


def _imported(path: Path) -> set[str]:
    """The modules ``path`` imports (relative imports as ``.name``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update((base + "." if node.module else base) + a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("module", ENGINE)
def test_engine_modules_do_not_import_the_adapters(module):
    imported = _imported(PREPARE / module)
    bad = {n for n in imported if n.split(".")[-1] in ("sources", "api", "cli")}
    assert not bad, f"{module} imports {sorted(bad)}"
