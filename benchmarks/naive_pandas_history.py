# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""A timing reference only: history building the way the public RecZero forks do it (per-row pandas filtering).

NOT part of the package and never used to prepare data. For every target row it filters the WHOLE DataFrame for the
same user with an earlier timestamp, sorts, takes the last ``K``; then the same for the item; averages over the earlier
rows; history strings with title, rating and a clipped review; rows without user or item history are dropped; the
result is written to parquet. That is O(N^2) in the number of reviews, which is why ``reczero-verl prepare`` uses
window functions and range joins in DuckDB instead. ``benchmarks/bench_prepare.py`` times both on the same file.

Usage: ``python benchmarks/naive_pandas_history.py REVIEWS.json[.gz] META.json[.gz] OUT.parquet``
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import pandas as pd

K = 10
REVIEW_CHARS = 400


def _read_json_lines(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def naive_histories(reviews_path: Path, meta_path: Path | None, k: int = K) -> pd.DataFrame:
    """One row per review that has both a user and an item history, built by per-row DataFrame filtering."""
    df = pd.DataFrame(_read_json_lines(reviews_path))
    df = df.rename(columns={"reviewerID": "user_id", "asin": "item_id", "overall": "rating", "unixReviewTime": "ts"})
    df["review"] = df["reviewText"].fillna(df["summary"]).fillna("")
    df = df.drop_duplicates(["user_id", "item_id"], keep="first").reset_index(drop=True)
    titles: dict[str, str] = {}
    if meta_path is not None:
        titles = {m["asin"]: m.get("title", "") for m in _read_json_lines(meta_path)}
    rows = []
    for row in df.itertuples(index=False):
        user_prev = df[(df["user_id"] == row.user_id) & (df["ts"] < row.ts)].sort_values("ts")
        item_prev = df[(df["item_id"] == row.item_id) & (df["ts"] < row.ts)].sort_values("ts")
        if user_prev.empty or item_prev.empty:
            continue
        user_hist = "\n\n".join(
            f"{i}. {titles.get(h.item_id, h.item_id)}, {h.rating:.1f};\nReview: {h.review[:REVIEW_CHARS]}"
            for i, h in enumerate(user_prev.tail(k).itertuples(index=False), start=1)
        )
        item_tail = item_prev.tail(k)
        item_hist = (
            f"Title: {titles.get(row.item_id, row.item_id)} | Ratings: {item_tail['rating'].tolist()} | "
            f"Reviews: [{'; '.join(r[:REVIEW_CHARS] for r in item_tail['review'])}]"
        )
        rows.append(
            {
                "user_id": row.user_id,
                "item_id": row.item_id,
                "timestamp": row.ts,
                "ground_truth": float(row.rating),
                "user_history": user_hist,
                "item_history": item_hist,
                "user_avg": float(user_prev["rating"].mean()),
                "item_avg": float(item_prev["rating"].mean()),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("Usage: ")[1])
        return 2
    began = time.perf_counter()
    out = naive_histories(Path(argv[0]), Path(argv[1]))
    out.to_parquet(argv[2], index=False)
    sys.stdout.write(f"naive pandas: {len(out)} rows in {time.perf_counter() - began:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
