# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Benchmark: time per call of the reward on realistic 1-2 KB TbR responses (target: median <= 25 us on 2 cores).

Run: ``python benchmarks/bench_reward.py [--calls N]``. Prints the median and 90th percentile time per call for a mix
of well-formed, malformed and unparseable responses, as verl's reward workers would see them.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time

from reczero_verl.reward import compute_score

logger = logging.getLogger("bench_reward")

WORDS = (
    "the user consistently rewards comfortable durable items and punishes poor sizing cheap materials and late "
    "delivery this sneaker has a breathable mesh upper cushioned sole reviewers praise fit but mention narrow toe box "
    "price point matches previous purchases which were rated highly overall the match is good"
).split()


def sentence(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def realistic_responses(n: int, seed: int = 0) -> list[str]:
    """TbR responses of 1-2 KB: 70% well-formed, 15% with a broken structure, 15% without a parsable rating."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        body = [" ".join(sentence(rng, rng.randint(10, 22)) for _ in range(rng.randint(3, 6))) for _ in range(3)]
        rate = f"{rng.uniform(1, 5):.1f}"
        text = (
            f"<analyze user>{body[0]}</analyze user>\n<analyze item>{body[1]}</analyze item>\n"
            f"<match>{body[2]}</match>\n<rate>{rate}</rate>"
        )
        kind = rng.random()
        if kind > 0.85:
            text = text.replace(f"<rate>{rate}</rate>", f"I would rate it {rate} stars.")
        elif kind > 0.70:
            text = text + " Hope this helps!"
        out.append(text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7, help="timed passes; the median pass is reported")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    responses = realistic_responses(args.calls)
    sizes = sorted(len(r.encode()) for r in responses)
    extra = {"rating_min": 1.0, "rating_max": 5.0, "index": 0}
    for r in responses[:1000]:  # warm-up
        compute_score(data_source="reczero/bench", solution_str=r, ground_truth=4.0, extra_info=extra)
    per_call = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for r in responses:
            compute_score(data_source="reczero/bench", solution_str=r, ground_truth=4.0, extra_info=extra)
        per_call.append((time.perf_counter() - start) / len(responses) * 1e6)
    # Per-call spread on a sample, timed one by one.
    single = []
    for r in responses[:5000]:
        t0 = time.perf_counter()
        compute_score(data_source="reczero/bench", solution_str=r, ground_truth=4.0, extra_info=extra)
        single.append((time.perf_counter() - t0) * 1e6)
    single.sort()
    logger.info(
        "responses: %d, size %d-%d bytes (median %d)", len(responses), sizes[0], sizes[-1], sizes[len(sizes) // 2]
    )
    logger.info(
        "mean time per call over a pass, median of %d passes: %.2f us", args.repeats, statistics.median(per_call)
    )
    logger.info(
        "single calls: median %.2f us, p90 %.2f us, p99 %.2f us",
        single[len(single) // 2],
        single[int(len(single) * 0.9)],
        single[int(len(single) * 0.99)],
    )
    target = 25.0
    verdict = "meets" if single[len(single) // 2] <= target else "MISSES"
    logger.info("target: median <= %.0f us per call -> %s", target, verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
