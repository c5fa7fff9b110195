# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The command line: --version, --help, and the promise that starting it imports neither torch nor verl."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reczero_verl import REQUIRED_VERL, __version__
from reczero_verl.cli import COMMANDS, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert __version__ in out and REQUIRED_VERL in out


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert "verl.trainer.main_ppo" in out


@pytest.mark.parametrize("argv", [["--help"], ["prepare", "--help"]])
def test_start_imports_neither_torch_nor_verl(argv):
    code = (
        "import sys\n"
        "from reczero_verl.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy_roots = {'torch', 'verl', 'transformers', 'vllm', 'ray'}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in heavy_roots)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_every_command_module_has_the_command_interface():
    import importlib

    for name, (module_name, _) in COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.configure_parser) and callable(module.main), name
