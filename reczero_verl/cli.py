# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``reczero-verl`` command line.

Each subcommand lives in its own module, which exposes ``configure_parser(parser)`` and ``main(args) -> int``. Only
the module of the command being run is imported, so ``reczero-verl --help`` imports neither torch nor verl and
answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from reczero_verl import REQUIRED_VERL, __version__
from reczero_verl.errors import EXIT_INTERRUPTED, ReczeroError

logger = logging.getLogger(__name__)

#: command -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("reczero_verl.prepare.cli", "turn a raw public dump or your own logs into TbR samples (verl parquet)"),
    "coldstart": (
        "reczero_verl.coldstart.cli",
        "RecOne cold start: collect teacher TbR traces from an OpenAI-compatible endpoint into verl SFT data",
    ),
    "generate": ("reczero_verl.evaluation.generate", "generate responses of a trained model for a test parquet"),
    "evaluate": ("reczero_verl.evaluation.evaluate", "MAE / RMSE / coverage of generations, with a report and plots"),
    "baselines": ("reczero_verl.evaluation.baselines", "classical rating-prediction baselines on the same split"),
    "curves": ("reczero_verl.evaluation.curves", "training and validation curves per step from verl's dumps"),
    "quickstart": (
        "reczero_verl.quickstart",
        "the main job: prepare the bundled sample and launch the 1-GPU RecZero recipe with verl",
    ),
}

DESCRIPTION = (
    "RecZero / RecOne (Think before Recommendation) for verl. Train rating-prediction LLMs with verl's own trainer:\n"
    "  python -m verl.trainer.main_ppo --config-dir <recipes dir> --config-name <recipe>\n"
    f"This package is validated against verl=={REQUIRED_VERL}."
)


def _selected_command(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if arg in COMMANDS:
            return arg
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only ``command``'s module is imported to configure its arguments."""
    parser = argparse.ArgumentParser(
        prog="reczero-verl", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"reczero-verl {__version__} (verl=={REQUIRED_VERL})")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        cmd_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.configure_parser(cmd_parser)
            cmd_parser.set_defaults(_main=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reczero-verl`` console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args._main(args) or 0)
    except ReczeroError as exc:
        # The one place where a user error becomes a message and an exit code (reczero_verl/errors.py).
        logger.error("%s %s: %s", parser.prog, args.command, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        logger.warning("%s %s: interrupted", parser.prog, args.command)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
