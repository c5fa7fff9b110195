# Copyright 2026 The reczero-verl Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Benchmark of ``reczero-verl prepare amazon`` on synthetic Amazon 2018 dumps (a script that prints figures).

What it measures, each in a fresh child process (wall time, CPU time and peak RSS of that child via ``os.wait4``):

1. ``prepare amazon --max-train 20000 --max-test 2000`` on dumps of 250k and 1M reviews (same user/item ratios),
   and the bare-parse floor: one DuckDB query reading every field the pipeline uses (user, item, rating, time,
   review text, summary) from every line, with the pipeline's own column types, and aggregating them. The marginal
   ratio ``(t_1M - t_250k) / (parse_1M - parse_250k)`` is compared with the target (<= 5), the peak RSS with 4 GB.
2. Imports: ``reczero-verl --help`` and a whole ``prepare`` run under ``python -X importtime``; neither may import
   torch or verl.
3. The per-row pandas filtering of the public forks (``naive_pandas_history.py``) against ``prepare`` on the same
   20k-review dump.

The machine's load average is printed beside the figures: wall times on a shared machine are inflated, CPU times less.

Usage: ``python benchmarks/bench_prepare.py [--sizes 250000 1000000] [--workdir DIR] [--profile] [--json-out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reczero_verl.prepare.synthetic import write_amazon2018_dump

HERE = Path(__file__).resolve().parent
MARGINAL_TARGET = 5.0
RSS_TARGET_BYTES = 4 * 1024**3
HEAVY_MODULES = ("torch", "verl", "transformers", "vllm", "ray")

#: The bare-parse floor: the same read_json call and VARCHAR columns as the pipeline's fast reader
#: (reczero_verl/prepare/sources.py json_lines_relations), every field the pipeline uses, aggregated.
PARSE_SQL = """
SELECT count(*), sum(length("reviewerID")), sum(length(asin)), sum(TRY_CAST(overall AS DOUBLE)),
       max(TRY_CAST("unixReviewTime" AS BIGINT)), sum(length("reviewText")), sum(length(summary))
FROM read_json({path}, format='newline_delimited', maximum_object_size=67108864,
               columns={{'reviewerID': 'VARCHAR', 'asin': 'VARCHAR', 'overall': 'VARCHAR',
                        'unixReviewTime': 'VARCHAR', 'reviewText': 'VARCHAR', 'summary': 'VARCHAR'}})
"""
PARSE_CHILD = """
import sys, time, json, duckdb
con = duckdb.connect(":memory:")
con.execute("SET enable_progress_bar=false")
t = time.perf_counter()
row = con.execute(sys.argv[1]).fetchone()
print(json.dumps({"seconds": time.perf_counter() - t, "row": [float(x) for x in row]}))
"""


@dataclass
class Run:
    """One measured child process."""

    wall_s: float
    cpu_s: float
    max_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


def run_child(command: list[str], cwd: Path | None = None) -> Run:
    """Run ``command`` and measure that child alone (``os.wait4`` gives its own rusage, unlike RUSAGE_CHILDREN)."""
    began = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, proc.returncode, stdout, stderr)


def code_version() -> str:
    """``git describe`` of the checkout holding this script (``-dirty``: uncommitted changes were measured)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=HERE, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def load_average() -> str:
    return "load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def prepare_command(reviews: Path, meta: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reczero_verl.cli",
        "prepare",
        "amazon",
        "--reviews",
        str(reviews),
        "--meta",
        str(meta),
        "--output-dir",
        str(out),
        "--max-train",
        "20000",
        "--max-test",
        "2000",
        *extra,
    ]


def run_prepare(reviews: Path, meta: Path, out: Path, python_flags: tuple[str, ...] = ()) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    command = prepare_command(reviews, meta, out)
    command[1:1] = list(python_flags)
    run = run_child(command)
    if run.returncode != 0:
        raise SystemExit(f"prepare failed (exit {run.returncode}) on {reviews}:\n{run.stderr[-3000:]}")
    return run


def run_parse_floor(reviews: Path) -> tuple[float, Run]:
    """The bare-parse query in a fresh process and connection; returns (query seconds, the child's measures)."""
    sql = PARSE_SQL.format(path="'" + str(reviews).replace("'", "''") + "'")
    run = run_child([sys.executable, "-c", PARSE_CHILD, sql])
    if run.returncode != 0:
        raise SystemExit(f"parse query failed on {reviews}:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout)["seconds"], run


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: (.*)$")


def log_phases(stderr: str) -> list[tuple[str, float]]:
    """Seconds between consecutive log lines of a prepare run: a coarse profile of its phases."""
    stamps = []
    for line in stderr.splitlines():
        m = _LOG_TIME.match(line)
        if m:
            stamps.append((datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"), m.group(2)[:70]))
    return [(f"-> {b[1]}", (b[0] - a[0]).total_seconds()) for a, b in zip(stamps, stamps[1:], strict=False)]


def imported_heavy_modules(importtime_stderr: str) -> list[str]:
    """Top-level heavy packages (torch, verl, ...) named in ``python -X importtime`` output."""
    found = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            if module.split(".")[0] in HEAVY_MODULES:
                found.add(module.split(".")[0])
    return sorted(found)


def _wall(run: Run) -> float:
    return run.wall_s


def gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB"


def generate(folder: Path, n_reviews: int, seed: int) -> tuple[Path, Path, dict]:
    reviews, meta = folder / f"reviews_{n_reviews}.json.gz", folder / f"meta_{n_reviews}.json.gz"
    stats = write_amazon2018_dump(
        reviews, meta, n_reviews, max(1, n_reviews // 8), max(1, n_reviews // 25), seed=seed, compresslevel=1
    )
    return reviews, meta, stats


def profile_prepare(reviews: Path, meta: Path, out: Path, top: int) -> None:
    """Run prepare under cProfile and print the costliest functions (cumulative), to see which phase costs what."""
    prof = out.parent / "prepare.prof"
    run_prepare(reviews, meta, out, ("-m", "cProfile", "-o", str(prof)))
    import pstats

    print(f"\n## cProfile of prepare on {reviews.name} (top {top} by cumulative time, reczero_verl + duckdb calls)")
    stats = pstats.Stats(str(prof))
    stats.sort_stats("cumulative").print_stats(r"reczero_verl|duckdb|execute|fetch|parquet", top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[250_000, 1_000_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--naive-size", type=int, default=20_000, help="reviews in the naive-pandas comparison dump")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive pandas comparison (minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep dumps and outputs here (default: temp)")
    parser.add_argument("--profile", action="store_true", help="also run prepare on the largest dump under cProfile")
    parser.add_argument("--json-out", type=Path, default=None, help="write every figure as JSON here")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of prepare and of the parse query per size; the fastest counts"
    )
    args = parser.parse_args(argv)

    import duckdb

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "python": sys.version.split()[0],
        "duckdb": duckdb.__version__,
        "cores": os.cpu_count(),
        "code": code_version(),
    }
    print(
        f"# bench_prepare ({datetime.now().isoformat(timespec='seconds')}, python {results['python']}, "
        f"duckdb {results['duckdb']}, code {results['code']}, {load_average()}; workdir {workdir})"
    )

    # 1. scaling against the bare-parse floor
    per_size = {}
    for n in args.sizes:
        t0 = time.perf_counter()
        reviews, meta, gen = generate(workdir, n, args.seed)
        gen_s = time.perf_counter() - t0
        before = load_average()
        prep = min((run_prepare(reviews, meta, workdir / f"out_{n}") for _ in range(args.repeat)), key=_wall)
        parse_s, parse_run = min((run_parse_floor(reviews) for _ in range(args.repeat)), key=lambda r: r[0])
        per_size[n] = {
            "lines": gen["n_lines"],
            "reviews_bytes": gen["reviews_bytes"],
            "generate_s": gen_s,
            "prepare_wall_s": prep.wall_s,
            "prepare_cpu_s": prep.cpu_s,
            "prepare_max_rss_bytes": prep.max_rss_bytes,
            "parse_query_s": parse_s,
            "parse_child_wall_s": parse_run.wall_s,
            "parse_child_cpu_s": parse_run.cpu_s,
            "parse_max_rss_bytes": parse_run.max_rss_bytes,
            "phases": log_phases(prep.stderr),
            "load_before": before,
            "prepared": prep.stdout.strip(),
        }
        print(
            f"\n## {n:,} reviews ({gen['n_lines']:,} lines, {gen['reviews_bytes'] / 1e6:.1f} MB gz; "
            f"generated in {gen_s:.1f} s; {before})"
        )
        print(
            f"prepare amazon --max-train 20000 --max-test 2000: wall {prep.wall_s:.1f} s, CPU {prep.cpu_s:.1f} s, "
            f"peak RSS {gib(prep.max_rss_bytes)}"
        )
        print(f"  {prep.stdout.strip()}")
        for phase, seconds in per_size[n]["phases"]:
            print(f"  {seconds:7.2f} s {phase}")
        print(
            f"bare-parse floor (one DuckDB query over every line): {parse_s:.2f} s "
            f"(child wall {parse_run.wall_s:.2f} s, CPU {parse_run.cpu_s:.2f} s, "
            f"peak RSS {gib(parse_run.max_rss_bytes)})"
        )
    small, large = (per_size[n] for n in args.sizes)
    d_prep = large["prepare_wall_s"] - small["prepare_wall_s"]
    d_parse = large["parse_query_s"] - small["parse_query_s"]
    marginal = d_prep / d_parse if d_parse > 0 else float("inf")
    d_prep_cpu = large["prepare_cpu_s"] - small["prepare_cpu_s"]
    d_parse_cpu = large["parse_child_cpu_s"] - small["parse_child_cpu_s"]
    marginal_cpu = d_prep_cpu / d_parse_cpu if d_parse_cpu > 0 else float("inf")
    peak = max(s["prepare_max_rss_bytes"] for s in per_size.values())
    results.update(sizes=per_size, marginal_ratio=marginal, marginal_ratio_cpu=marginal_cpu, peak_rss_bytes=peak)
    print("\n## targets")
    print(
        f"marginal ratio (t_{args.sizes[1]} - t_{args.sizes[0]}) / (parse_{args.sizes[1]} - parse_{args.sizes[0]}) "
        f"= {d_prep:.1f} s / {d_parse:.2f} s = {marginal:.2f}  (target <= {MARGINAL_TARGET:g}: "
        f"{'MET' if marginal <= MARGINAL_TARGET else 'MISSED'})"
    )
    print(
        f"same ratio in CPU seconds (less sensitive to a busy machine): {d_prep_cpu:.1f} s / {d_parse_cpu:.2f} s "
        f"= {marginal_cpu:.2f}"
    )
    print(f"peak RSS of prepare: {gib(peak)}  (target <= 4 GiB: {'MET' if peak <= RSS_TARGET_BYTES else 'MISSED'})")

    # 2. imports
    help_run = run_child([sys.executable, "-X", "importtime", "-m", "reczero_verl.cli", "--help"])
    help_heavy = imported_heavy_modules(help_run.stderr)
    naive_reviews, naive_meta, _ = generate(workdir, args.naive_size, args.seed + 1)
    ours = run_prepare(naive_reviews, naive_meta, workdir / "out_naive_ours", ("-X", "importtime"))
    prep_heavy = imported_heavy_modules(ours.stderr)
    results.update(help_wall_s=help_run.wall_s, help_heavy=help_heavy, prepare_heavy=prep_heavy)
    print("\n## imports (python -X importtime)")
    print(f"reczero-verl --help: {help_run.wall_s:.2f} s wall; heavy modules imported: {help_heavy or 'none'}")
    print(f"a whole prepare amazon run: heavy modules imported: {prep_heavy or 'none'}")

    # 3. naive per-row pandas filtering vs prepare, same dump
    if not args.skip_naive:
        ours = run_prepare(naive_reviews, naive_meta, workdir / "out_naive_ours")
        naive = run_child(
            [
                sys.executable,
                str(HERE / "naive_pandas_history.py"),
                str(naive_reviews),
                str(naive_meta),
                str(workdir / "naive.parquet"),
            ]
        )
        if naive.returncode != 0:
            raise SystemExit(f"naive reference failed:\n{naive.stderr[-3000:]}")
        speedup = naive.wall_s / ours.wall_s
        results.update(
            naive_wall_s=naive.wall_s,
            naive_cpu_s=naive.cpu_s,
            ours_small_wall_s=ours.wall_s,
            ours_small_cpu_s=ours.cpu_s,
            speedup=speedup,
        )
        print(f"\n## naive per-row pandas filtering vs prepare, {args.naive_size:,}-review dump ({load_average()})")
        print(f"naive pandas: wall {naive.wall_s:.1f} s, CPU {naive.cpu_s:.1f} s ({naive.stdout.strip()})")
        print(f"prepare:      wall {ours.wall_s:.1f} s, CPU {ours.cpu_s:.1f} s ({ours.stdout.strip()})")
        print(f"speed ratio naive / prepare: {speedup:.1f}x wall, {naive.cpu_s / ours.cpu_s:.1f}x CPU")

    if args.profile:
        n = args.sizes[1]
        profile_prepare(workdir / f"reviews_{n}.json.gz", workdir / f"meta_{n}.json.gz", workdir / "out_profile", 30)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
