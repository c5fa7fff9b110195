# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The command line: --version, --help, and the promise that starting it imports neither torch nor verl."""

from __future__ import annotations

import logging
import re
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


# ------------------------------------------------------------------------------ shared options of the commands

#: The required options of each command, with values that pass the config's checks (nothing is read before them).
REQUIRED = {
    "generate": ["--model", "m", "--data", "d.parquet", "--output", "g.jsonl"],
    "evaluate": ["--data", "d.parquet", "--generations", "g.jsonl", "--output-dir", "e"],
    "baselines": ["--train", "t.parquet", "--test", "d.parquet", "--output-dir", "b"],
    "coldstart": ["--input", "t.parquet", "--output-dir", "c", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
}

#: Every number option with a range: (command, option, values it refuses, its smallest value, what 0 means when 0 is
#: allowed and means more than a number, as the option's help says).
BOUNDED = [
    ("generate", "--n", ["0", "-1"], "1", None),
    ("generate", "--temperature", ["-0.1", "nan"], "0", "greedy"),
    ("generate", "--top-p", ["0", "-1"], "0.01", None),
    ("generate", "--max-tokens", ["0"], "1", None),
    ("generate", "--seed", ["-1"], "0", None),
    ("generate", "--limit", ["0", "-3"], "1", None),
    ("generate", "--batch-size", ["0"], "1", None),
    ("generate", "--max-prompt-tokens", ["0"], "1", None),
    ("generate", "--tensor-parallel-size", ["0"], "1", None),
    ("generate", "--gpu-memory-utilization", ["0"], "0.05", None),
    ("generate", "--max-model-len", ["0"], "1", None),
    ("evaluate", "--limit", ["0", "-1"], "1", None),
    ("baselines", "--bias-reg", ["-1"], "0", "unregularised"),
    ("baselines", "--mf-factors", ["0"], "1", None),
    ("baselines", "--mf-epochs", ["0"], "1", None),
    ("baselines", "--mf-lr", ["0", "-0.1"], "0.001", None),
    ("baselines", "--mf-reg", ["-0.5"], "0", "unregularised"),
    ("baselines", "--seed", ["-1"], "0", None),
    ("baselines", "--bpr-factors", ["0"], "1", None),
    ("baselines", "--bpr-epochs", ["0"], "1", None),
    ("baselines", "--bpr-lr", ["0", "-0.1"], "0.001", None),
    ("baselines", "--bpr-reg", ["-0.5"], "0", "unregularised"),
    ("baselines", "--like-prior", ["-1", "nan"], "0", "none"),
    ("coldstart", "--max-samples", ["0"], "1", None),
    ("coldstart", "--seed", ["-1"], "0", None),
    ("coldstart", "--val-ratio", ["-0.1", "1", "nan"], "0", "no validation split"),
    ("coldstart", "--temperature", ["-1"], "0", "greedy"),
    ("coldstart", "--top-p", ["0"], "0.5", None),
    ("coldstart", "--max-tokens", ["-1"], "0", "not sent"),
    ("coldstart", "--concurrency", ["0", "-2"], "1", None),
    ("coldstart", "--timeout", ["0", "-5"], "0.5", None),
    ("coldstart", "--max-retries", ["-1"], "0", "no retries"),
    ("coldstart", "--backoff-base", ["-1"], "0", "retry at once"),
    ("coldstart", "--backoff-max", ["-1"], "0", None),
    ("coldstart", "--max-retry-after", ["-1", "nan"], "0", "retry at once"),
    ("coldstart", "--max-answer-chars", ["0"], "1", None),
    ("coldstart", "--tolerance", ["-0.5"], "0", "the rounded rating equals y"),
]
_REFUSED = [(command, flag, value) for command, flag, values, _, _ in BOUNDED for value in values]


def _command_parser(command):
    import argparse
    import importlib

    module = importlib.import_module(COMMANDS[command][0])
    parser = argparse.ArgumentParser(prog=command)
    module.configure_parser(parser)
    return module, parser


def test_every_bounded_option_is_in_the_table():
    from reczero_verl.options import NumberRule

    for command in REQUIRED:
        _, parser = _command_parser(command)
        bounded = {a.option_strings[0] for a in parser._actions if isinstance(a.type, NumberRule)}
        assert bounded == {flag for c, flag, *_ in BOUNDED if c == command}, command


@pytest.mark.parametrize(("command", "flag", "value"), _REFUSED)
def test_a_value_out_of_range_is_one_line_and_exit_code_2(tmp_path, monkeypatch, caplog, command, flag, value):
    monkeypatch.chdir(tmp_path)
    assert main([command, *REQUIRED[command], flag, value]) == 2
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"{flag} must be " in error
    assert error.endswith((f", got {value}", f", got {float(value)}")), error
    assert sorted(tmp_path.iterdir()) == []  # refused before anything was read or written


@pytest.mark.parametrize(("command", "flag", "smallest", "zero"), [(c, f, s, z) for c, f, _, s, z in BOUNDED])
def test_the_smallest_value_is_accepted_and_the_help_says_the_range(command, flag, smallest, zero):
    module, parser = _command_parser(command)
    config = module.config_from_args(parser.parse_args([*REQUIRED[command], flag, smallest]))
    assert config is not None
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    assert action.type(smallest) == float(smallest)
    assert "at least" in action.help or "more than" in action.help or "in [" in action.help, action.help
    if zero is not None:  # 0 is allowed: the help says what it means
        assert f"0: {zero}" in action.help, action.help


def test_text_that_is_no_number_is_an_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", *REQUIRED["generate"], "--n", "two"])
    assert exc.value.code == 2
    assert "invalid positive_int value: 'two'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"n": 0}, "--n must be at least 1, got 0"),
        ({"n": 1.5}, "--n must be a whole number at least 1, got 1.5"),
        ({"n": True}, "--n must be a whole number"),
        ({"top_p": 0.0}, "--top-p must be more than 0 (--top-p > 0), got 0.0"),
        ({"backend": "tpu"}, "--backend must be one of auto, vllm, transformers, got 'tpu'"),
        ({"prefill": True, "chat_template": "t.jinja"}, "--prefill and --chat-template exclude each other"),
        ({"prefix": "<x>"}, "--prefix is only meaningful with --chat-template"),
    ],
)
def test_the_python_api_refuses_what_the_command_line_refuses(config, needle):
    from reczero_verl.errors import BadInputError
    from reczero_verl.evaluation.generate import GenerateConfig

    with pytest.raises(BadInputError) as exc:
        GenerateConfig(model="m", data="d.parquet", output="g.jsonl", **config)
    assert needle in str(exc.value) and exc.value.exit_code == 2


@pytest.mark.parametrize("command", ["evaluate", "baselines", "coldstart"])
def test_folders_are_output_dir_and_the_old_output_flag_still_works_hidden(command):
    from pathlib import Path

    module, parser = _command_parser(command)
    help_text = parser.format_help()
    assert "--output-dir" in help_text and not re.search(r"--output(?!-dir)", help_text)
    old = [a if a != "--output-dir" else "--output" for a in REQUIRED[command]]
    config = module.config_from_args(parser.parse_args(old))
    assert config.output_dir == Path(REQUIRED[command][REQUIRED[command].index("--output-dir") + 1])
    with pytest.raises(SystemExit):
        parser.parse_args([*REQUIRED[command], "--output", "other"])  # both spellings at once
