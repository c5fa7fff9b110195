# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: what the ``verl.plugins`` entry point adds to ``import verl`` (target: under 0.1 s).

Every verl process of every user who installs this package (each Ray worker too) runs the entry point on
``import verl``. Run: ``python benchmarks/bench_plugin_import.py [--runs N]``. Each measurement is a fresh interpreter
timing ``import verl`` alone; the variants alternate run by run so machine load hits them alike:

* ``stock``: ``VERL_USE_EXTERNAL_PLUGINS=none`` (verl without any plugin);
* ``plugin``: the entry point as installed (the reward manager registered lazily, the CPU backend not selected);
* ``plugin+cpu``: the entry point with ``VERL_PLATFORM=cpu`` (the CPU backend's hooks installed);
* ``eager``: what an eager registration cost: ``VERL_USE_EXTERNAL_MODULES=reczero_verl.reward_manager`` with the
  entry point off, i.e. importing the reward manager (and verl's whole reward loop) at start-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

PROBE = "import time; t = time.perf_counter(); import verl; print(time.perf_counter() - t)"

VARIANTS: dict[str, dict[str, str]] = {
    "stock": {"VERL_USE_EXTERNAL_PLUGINS": "none"},
    "plugin": {},
    "plugin+cpu": {"VERL_PLATFORM": "cpu"},
    "eager": {"VERL_USE_EXTERNAL_PLUGINS": "none", "VERL_USE_EXTERNAL_MODULES": "reczero_verl.reward_manager"},
}


def time_import(extra_env: dict[str, str]) -> float:
    """Seconds of ``import verl`` in a fresh interpreter with ``extra_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env={**env, **extra_env}, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per variant (default: %(default)s)")
    args = parser.parse_args()
    time_import({})  # warm the file cache and the bytecode caches once
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.runs):
        for name, env in VARIANTS.items():
            times[name].append(time_import(env))
    stock = statistics.median(times["stock"])
    print(f"import verl, median of {args.runs} fresh interpreters (load average {os.getloadavg()[0]:.2f}):")
    for name, values in times.items():
        median = statistics.median(values)
        spread = f"(min {min(values):.3f}, max {max(values):.3f})"
        print(f"  {name:<11} {median:6.3f} s  {spread}  added {median - stock:+.3f} s")


if __name__ == "__main__":
    main()
