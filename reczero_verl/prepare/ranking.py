# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The candidates of ``prepare --task ranking``: the target and ``--candidates - 1`` negatives per target, drawn
set-based in DuckDB (memory bounded by its limit; it spills beyond), seeded and reproducible.

Definitions (checked against a brute force in ``tests/test_prepare_tasks.py``):

* **Pool.** The negatives of a target at time ``t`` are drawn from the items with at least one valid interaction
  strictly before ``t``: an item first seen later would disclose the future catalogue, and, having no average rating
  yet, would stand out from the target (which by default has an earlier interaction).
* **Never interacted.** An item is no negative of a user who appears with it in ANY record of the input, whatever
  else is wrong with that record (a duplicate, a review copied under a sibling listing, a rating out of scale): such
  an item would be a false negative. Only records that do not parse at all are ignored.
* **Draws.** ``--negatives uniform``: an item of the pool, uniformly; ``popularity``: the item of an interaction drawn
  uniformly among the valid interactions strictly before ``t``, i.e. in proportion to the item's interactions
  before ``t``. Draw ``k`` of a target comes from a seeded 64-bit hash of (seed, user, item, time of the target, k)
  (DuckDB's ``hash``, as the split and the sampling use: deterministic for a DuckDB version). The negatives are the
  first ``M - 1`` distinct admissible items in draw order (rejection sampling: successive weighted draws without
  replacement). Rounds of :data:`DRAW_ROUNDS` draws settle almost every target; the rare target still short after
  them (a user who knows most of the pool, or weights so skewed that the last items are seldom drawn) gets an exact
  weighted sample without replacement over its whole admissible pool instead (Efraimidis-Spirakis keys from the same
  seed), counted in stats.json as ``exact_fallback``.
* **Too few.** A target whose pool holds fewer than ``M - 1`` admissible items is dropped before the split, counted
  as ``too_few_negatives``: a prompt never has fewer candidates than asked for.
* **Order.** The ``M`` candidates are shown in the order of a seeded hash of (target, item); the ground truth is the
  target's 1-based place in it.
* **Averages.** Each candidate's average rating over the valid interactions strictly before ``t`` (``None`` where
  there is none).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import duckdb

logger = logging.getLogger(__name__)

__all__ = [
    "DRAW_ROUNDS",
    "build_pool",
    "mark_too_few_negatives",
    "draw_candidates",
    "drop_pool",
]

#: Draws per target in each rejection round, as multiples of the negatives needed (plus a constant): a round runs
#: only for the targets the previous ones left short. The first suffices wherever the pool is large next to the
#: user's items (measured: all but one of 210,598 targets of the 250k-review synthetic dump, uniform or popularity);
#: each draw costs about 0.25 us of DuckDB time on 2 cores.
DRAW_ROUNDS: tuple[tuple[float, int], ...] = ((1.5, 8), (16, 64), (128, 512))


def build_pool(con: duckdb.DuckDBPyConnection) -> None:
    """Create, from ``ev`` (valid, deduplicated interactions) and ``ev_all`` (every record), the tables the draws
    read: ``rk_item(item_id, first_ts, idx)`` (items numbered by first interaction, so the pool at ``t`` is
    ``idx < n_pool``), ``rk_fc(first_ts, n_pool)``, ``rk_ec(ts, n_before)`` (valid interactions up to a time),
    ``rk_ev(pos, idx)`` (the item of each valid interaction, in time order), ``rk_users(user_id, uidx)``,
    ``rk_ui(uidx, idx, first_ts)`` (every pool item each user appears with in any record) and ``rk_uc(uidx, first_ts,
    n_user)`` (how many of them were first seen up to a time), and ``rk_iavg(idx, ts, cnt, total)`` (each item's
    interaction count and rating sum up to and including each of its timestamps)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rk_item AS
        SELECT item_id, first_ts, row_number() OVER (ORDER BY first_ts, item_id) - 1 AS idx
        FROM (SELECT item_id, min(ts) AS first_ts FROM ev GROUP BY item_id)
    """)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rk_fc AS SELECT first_ts, max(idx) + 1 AS n_pool FROM rk_item GROUP BY first_ts"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rk_ec AS SELECT ts, sum(count(*)) OVER (ORDER BY ts) AS n_before "
        "FROM ev GROUP BY ts"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rk_ev AS SELECT row_number() OVER (ORDER BY e.ts, e.line) - 1 AS pos, i.idx "
        "FROM ev e JOIN rk_item i USING (item_id)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rk_users AS SELECT user_id, row_number() OVER (ORDER BY user_id) - 1 AS uidx "
        "FROM (SELECT DISTINCT user_id FROM ev)"
    )
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rk_ui AS
        SELECT DISTINCT u.uidx, i.idx, i.first_ts
        FROM ev_all a JOIN rk_users u USING (user_id) JOIN rk_item i USING (item_id)
        WHERE coalesce(a.reason, '') <> 'malformed'
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rk_uc AS
        SELECT uidx, first_ts, sum(count(*)) OVER (PARTITION BY uidx ORDER BY first_ts) AS n_user
        FROM rk_ui GROUP BY uidx, first_ts
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rk_iavg AS
        SELECT i.idx, e.ts, sum(count(*)) OVER w AS cnt, sum(sum(e.rating)) OVER w AS total
        FROM ev e JOIN rk_item i USING (item_id) GROUP BY i.idx, e.ts
        WINDOW w AS (PARTITION BY i.idx ORDER BY e.ts)
    """)


def _pool_sql(table: str) -> str:
    """SQL: ``line`` and the admissible pool size ``avail`` (pool at the row's ``ts`` minus the user's items in it) of
    each row of ``table(line, user_id, ts)``."""
    return f"""
        SELECT t.line, coalesce(f.n_pool, 0) - coalesce(c.n_user, 0) AS avail
        FROM {table} t LEFT JOIN rk_users u USING (user_id)
        ASOF LEFT JOIN rk_fc f ON f.first_ts < t.ts
        ASOF LEFT JOIN rk_uc c ON c.uidx = u.uidx AND c.first_ts < t.ts
    """


def mark_too_few_negatives(con: duckdb.DuckDBPyConnection, negatives: int) -> None:
    """Set ``reason = 'too_few_negatives'`` on the rows of ``el`` still eligible whose admissible pool holds fewer
    than ``negatives`` items."""
    con.execute(f"""
        UPDATE el SET reason = 'too_few_negatives'
        WHERE reason IS NULL AND line IN (
            SELECT line FROM ({_pool_sql("(SELECT line, user_id, ts FROM el WHERE reason IS NULL)")})
            WHERE avail < {int(negatives)})
    """)


def _draws_sql(n_draws: int, negatives_mode: str) -> str:
    """SQL: ``line, idx, k`` of draws ``0 .. n_draws - 1`` of each target of ``rk_todo`` that are admissible (not an
    item of the user), the first draw of each distinct item only."""
    if negatives_mode == "uniform":
        draws = (
            f"SELECT t.line, t.uidx, r.k, CAST(hash(t.h0, r.k) % CAST(t.n_pool AS UBIGINT) AS BIGINT) AS idx "
            f"FROM rk_tg t SEMI JOIN rk_todo USING (line) CROSS JOIN range({int(n_draws)}) r(k)"
        )
    else:
        draws = (
            "SELECT d.line, d.uidx, d.k, e.idx FROM (SELECT t.line, t.uidx, r.k, "
            "CAST(hash(t.h0, r.k) % CAST(t.n_before AS UBIGINT) AS BIGINT) AS pos "
            f"FROM rk_tg t SEMI JOIN rk_todo USING (line) CROSS JOIN range({int(n_draws)}) r(k)) d "
            "JOIN rk_ev e ON e.pos = d.pos"
        )
    return (
        f"SELECT line, idx, min(k) AS k FROM ({draws}) d "
        "ANTI JOIN rk_ui x ON x.uidx = d.uidx AND x.idx = d.idx GROUP BY line, idx"
    )


def _exact_sql(negatives_mode: str) -> str:
    """SQL: ``line, idx, key`` of every admissible pool item of the targets of ``rk_todo``, ``key`` an
    Efraimidis-Spirakis key (``ln(u) / weight``: the ``M - 1`` largest are a weighted sample without replacement;
    weight 1 for uniform, the item's interactions before the target for popularity)."""
    unit = "((hash(t.h0, 'exact', i.idx) >> 11)::DOUBLE + 0.5) / 9007199254740992.0"
    pool = (
        f"SELECT t.line, t.uidx, t.ts, i.idx, {unit} AS u FROM rk_tg t SEMI JOIN rk_todo USING (line) "
        "JOIN rk_item i ON i.idx < t.n_pool"
    )
    admissible = f"SELECT p.* FROM ({pool}) p ANTI JOIN rk_ui x ON x.uidx = p.uidx AND x.idx = p.idx"
    if negatives_mode == "uniform":
        return f"SELECT line, idx, ln(u) AS key FROM ({admissible})"
    return (
        f"SELECT a.line, a.idx, ln(a.u) / w.cnt AS key FROM ({admissible}) a "
        "ASOF JOIN rk_iavg w ON w.idx = a.idx AND w.ts < a.ts"
    )


def draw_candidates(con: duckdb.DuckDBPyConnection, candidates: int, negatives_mode: str, seed: int) -> dict[str, Any]:
    """Create ``rk_cand(line, slot, idx, avg)`` (each sampled target of ``tg`` with its candidates in the order
    shown), ``rk_citems(idx, item_id, c_row)`` (the distinct candidate items, numbered ``c_row``) and
    ``rk_lists(line, c_rows, c_avg, gt)`` (per target, its candidates' rows and averages in the order shown, and the
    target's 1-based place). Returns the draw counts for stats.json."""
    m = int(candidates) - 1
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE rk_tg AS
        SELECT t.line, t.ts, u.uidx, i.idx AS t_idx, f.n_pool, ec.n_before,
               hash({int(seed)}, 'negatives', t.user_id, t.item_id, t.ts) AS h0
        FROM tg t JOIN rk_users u USING (user_id) JOIN rk_item i USING (item_id)
        ASOF JOIN rk_fc f ON f.first_ts < t.ts
        ASOF JOIN rk_ec ec ON ec.ts < t.ts
    """)
    n_targets = int(con.execute("SELECT count(*) FROM tg").fetchone()[0])
    if int(con.execute("SELECT count(*) FROM rk_tg").fetchone()[0]) != n_targets:
        raise RuntimeError("a ranking target has no pool: the eligibility check let it through")
    con.execute("CREATE OR REPLACE TEMP TABLE rk_neg (line BIGINT, negs BIGINT[])")
    con.execute("CREATE OR REPLACE TEMP TABLE rk_todo AS SELECT line FROM rk_tg")
    rounds = []
    for factor, extra in DRAW_ROUNDS:
        todo = int(con.execute("SELECT count(*) FROM rk_todo").fetchone()[0])
        if not todo:
            break
        n_draws = math.ceil(factor * m) + extra
        # the first m distinct admissible items in draw order: an ordered list per target, cut at m
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE rk_round AS
            SELECT line, list(idx ORDER BY k)[1:{m}] AS negs FROM ({_draws_sql(n_draws, negatives_mode)}) GROUP BY line
        """)
        con.execute(f"INSERT INTO rk_neg SELECT line, negs FROM rk_round WHERE len(negs) = {m}")
        con.execute(f"DELETE FROM rk_todo WHERE line IN (SELECT line FROM rk_round WHERE len(negs) = {m})")
        rounds.append({"targets": todo, "draws_per_target": n_draws})
    fallback = int(con.execute("SELECT count(*) FROM rk_todo").fetchone()[0])
    if fallback:
        logger.info("ranking: %d targets short after the rejection rounds get an exact weighted sample", fallback)
        con.execute(f"""
            INSERT INTO rk_neg SELECT line, list(idx ORDER BY key DESC, idx)[1:{m}] AS negs
            FROM ({_exact_sql(negatives_mode)}) GROUP BY line
        """)
    n_short = con.execute(f"SELECT count(*) FROM rk_neg WHERE len(negs) <> {m}").fetchone()[0]
    missing = con.execute("SELECT count(*) FROM rk_tg ANTI JOIN rk_neg USING (line)").fetchone()[0]
    if n_short or missing:
        raise RuntimeError("a ranking target did not get its negatives: the eligibility check let it through")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rk_cand AS
        SELECT c.line, c.idx, c.is_target,
               row_number() OVER (PARTITION BY c.line ORDER BY hash(t.h0, 'order', c.idx), c.idx) AS slot,
               a.total / a.cnt AS avg
        FROM (SELECT line, unnest(negs) AS idx, false AS is_target FROM rk_neg
              UNION ALL SELECT line, t_idx AS idx, true AS is_target FROM rk_tg) c
        JOIN rk_tg t USING (line)
        ASOF LEFT JOIN rk_iavg a ON a.idx = c.idx AND a.ts < t.ts
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rk_citems AS
        SELECT c.idx, i.item_id, row_number() OVER (ORDER BY c.idx) - 1 AS c_row
        FROM (SELECT DISTINCT idx FROM rk_cand) c JOIN rk_item i USING (idx)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE rk_lists AS
        SELECT c.line, list(ci.c_row ORDER BY c.slot) AS c_rows, list(c.avg ORDER BY c.slot) AS c_avg,
               max(c.slot) FILTER (WHERE c.is_target) AS gt
        FROM rk_cand c JOIN rk_citems ci USING (idx) GROUP BY c.line
    """)
    n_items = int(con.execute("SELECT count(*) FROM rk_citems").fetchone()[0])
    for table in ("rk_round", "rk_todo", "rk_neg"):
        con.execute(f"DROP TABLE {table}")
    return {
        "negatives": negatives_mode,
        "targets": n_targets,
        "rounds": rounds,
        "exact_fallback": fallback,
        "candidate_items": n_items,
    }


def drop_pool(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the ranking tables no longer needed once the lists and the candidate items exist."""
    for table in ("rk_fc", "rk_ec", "rk_ev", "rk_users", "rk_ui", "rk_uc", "rk_iavg", "rk_item", "rk_cand", "rk_tg"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
