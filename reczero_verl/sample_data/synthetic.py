# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""Deterministic synthetic dumps in the raw Amazon Review Data (2018) formats.

Why: the real dumps are tens of GB and cannot be shipped, yet the preparation pipeline, its tests, the bundled sample
and the benchmarks need input that looks and behaves like them: the same JSON-lines fields and quirks, skewed user and
item popularity, ratings skewed toward 4-5, reviews whose words follow the rating, timestamps at day granularity
(many ties) spread over years, and a few duplicate lines.

What is generated:

* a reviews file, one JSON object a line, keys in the order of the real files: ``overall`` (float), optional ``vote``
  (string, may contain a thousands comma), ``verified``, ``reviewTime`` (``"MM D, YYYY"``), ``reviewerID``, ``asin``,
  optional ``style`` (``{"Size:": " Medium", "Color:": " Navy"}``), ``reviewerName`` (rarely missing),
  ``reviewText`` (rarely missing), ``summary``, ``unixReviewTime`` (int, midnight UTC), optional ``image``
  (list of URLs, first key like in the real files). Lines are grouped by item, newest first within an item, as in
  the real 5-core files. Some users review several size/colour variants of one item: those lines repeat the review
  (same text, rating and day) with another ``style``; a handful of lines are exact duplicates.
* a meta file in the 2018 meta format, one object a line for every asin: ``category`` (list), ``description``
  (list), ``title``, ``brand``, ``feature`` (list), ``rank``, ``also_buy``/``also_view`` (asins), ``main_cat``,
  ``date``, ``price`` (``"$12.99"``, a range, or empty), image URL lists and sometimes ``details`` (dict).

The model behind the data: users and items get Zipf-like popularity (every user and item keeps at least
``min(5, ...)`` reviews, like a 5-core file); a rating is a low-rank score (user bias + item bias + dot product of
latent factors that depend on the product family + noise) cut at quantiles so that the marginal distribution matches
the real ``AMAZON_FASHION_5.json``; the text is made of templated sentences about item aspects whose polarity follows
the rating. Everything derives from one ``seed``: the same arguments give byte-identical files, gzip included
(with the same numpy and zlib releases). The words (families, brands, names, sentence templates) are data, in
``vocabulary.json`` beside this module, read once; editing that file changes the bytes of every dump, the bundled
sample included (``README.md`` here gives the command that regenerates it).

Cost: the per-review numbers are numpy arrays (peak resident memory about 230 bytes a review: 300 MB for one million
reviews, 135 MB for 250k, measured); the text is produced and written in chunks, so the strings are never all in
memory. One million reviews take about 20 s of CPU. Only stdlib and numpy are imported.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import io
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from reczero_verl.sample_data import VOCABULARY_FILE

logger = logging.getLogger(__name__)

#: Rating counts 1..5 of the real AMAZON_FASHION_5.json (see shared/data/amazon2018_fashion_5core/README.md):
#: the default target marginal of the synthetic ratings (68% fives, 15% fours, 11% threes, 3% twos, 4% ones).
FASHION_5CORE_RATING_COUNTS: tuple[int, int, int, int, int] = (117, 93, 337, 471, 2158)

_DAY = 86_400
#: Most users or items a dump may have (identifiers are drawn from 36**8 values at least; see _random_ids).
_MAX_ENTITIES = 10**8
_BASE36 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_MONTHS = tuple("January February March April May June July August September October November December".split())
#: P(positive), P(neutral) of an aspect sentence given the (text) rating level 1..5; the rest is negative.
_POLARITY = np.array([[0.04, 0.10], [0.15, 0.25], [0.40, 0.35], [0.78, 0.15], [0.95, 0.04]])
#: Number of aspect sentences 0..8 (before the +1, capped at 8, that ratings <= 2 get: unhappy reviewers write more).
_N_SENT_P = np.array([0.15, 0.22, 0.22, 0.16, 0.11, 0.07, 0.04, 0.02, 0.01])
#: The words of the generated files: product families, brands, names and sentence templates (data, not code).
VOCABULARY_PATH = Path(__file__).with_name(VOCABULARY_FILE)
_LEVELS = ("1", "2", "3", "4", "5")
_POLARITIES = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Family:
    """A product family: what its items are called, made of, sized in, and where they sit in Amazon's category tree."""

    noun: str
    kinds: tuple[str, ...]
    category: tuple[str, ...]
    materials: tuple[str, ...]
    sizes: tuple[str, ...]
    features: tuple[str, ...]
    colors: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Every word the generator writes, as read from ``vocabulary.json``; the order of each tuple is part of the seed.

    ``aspects[a][p]`` are the sentence templates of aspect ``a`` (fit, material, ...) at polarity ``p`` (0 negative,
    1 neutral, 2 positive); ``openers``, ``closers``, ``short_reviews`` and ``summaries`` hold one tuple per rating
    level 1..5. Templates may hold the placeholders ``{noun}``, ``{material}`` and ``{color}``.
    """

    families: tuple[Family, ...]
    brands: tuple[str, ...]
    first_names: tuple[str, ...]
    aspect_names: tuple[str, ...]
    aspects: tuple[tuple[tuple[str, ...], ...], ...]
    context: tuple[str, ...]
    openers: tuple[tuple[str, ...], ...]
    closers: tuple[tuple[str, ...], ...]
    short_reviews: tuple[tuple[str, ...], ...]
    star_summaries: tuple[str, ...]
    summaries: tuple[tuple[str, ...], ...]

    @property
    def max_templates(self) -> int:
        """Size of the largest group of aspect templates (a review's template draws are reduced modulo group sizes)."""
        return max(len(group) for aspect in self.aspects for group in aspect)

    def words(self) -> list[str]:
        """Every template and word that review lines quote as is (without JSON escaping)."""
        words = list(itertools.chain(self.star_summaries, self.context, *self.openers, *self.closers))
        words += itertools.chain(*self.short_reviews, *self.summaries, *itertools.chain(*self.aspects))
        for family in self.families:
            words += [family.noun, *family.materials, *family.sizes, *family.colors]
            words += [c.lower() for c in family.colors]
        return words


def load_vocabulary(path: str | Path) -> Vocabulary:
    """Read and check a vocabulary file; ValueError names what is wrong (see :func:`vocabulary` for the bundled one)."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))

    def strings(value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{path}: {where} must be a list of strings")
        return tuple(value)

    def by_level(name: str) -> tuple[tuple[str, ...], ...]:
        groups = raw[name]
        if not isinstance(groups, dict) or tuple(groups) != _LEVELS:
            raise ValueError(f"{path}: {name} must map the rating levels {', '.join(_LEVELS)}, in that order")
        return tuple(strings(groups[level], f"{name}[{level}]") for level in _LEVELS)

    palettes = {name: strings(words, f"palettes.{name}") for name, words in raw["palettes"].items()}

    def palette(value: Any, where: str) -> tuple[str, ...]:
        if isinstance(value, str):
            if value not in palettes:
                raise ValueError(f"{path}: {where} names no palette: {value!r}")
            return palettes[value]
        return strings(value, where)

    families = tuple(
        Family(
            noun=f["noun"],
            kinds=strings(f["kinds"], f"families[{k}].kinds"),
            category=(raw["category_root"], *strings(f["category"], f"families[{k}].category")),
            materials=strings(f["materials"], f"families[{k}].materials"),
            sizes=palette(f["sizes"], f"families[{k}].sizes"),
            features=strings(f["features"], f"families[{k}].features"),
            colors=palette(f["colors"], f"families[{k}].colors"),
        )
        for k, f in enumerate(raw["families"])
    )
    vocab = Vocabulary(
        families=families,
        brands=strings(raw["brands"], "brands"),
        first_names=strings(raw["first_names"], "first_names"),
        aspect_names=tuple(a["aspect"] for a in raw["aspects"]),
        aspects=tuple(tuple(strings(a[p], f"aspects.{a['aspect']}.{p}") for p in _POLARITIES) for a in raw["aspects"]),
        context=strings(raw["context"], "context"),
        openers=by_level("openers"),
        closers=by_level("closers"),
        short_reviews=by_level("short_reviews"),
        star_summaries=strings(raw["star_summaries"], "star_summaries"),
        summaries=by_level("summaries"),
    )
    if len(vocab.star_summaries) != len(_LEVELS):
        raise ValueError(f"{path}: star_summaries must have one entry per rating level 1..5")
    if not vocab.families or not vocab.aspects:
        raise ValueError(f"{path}: needs at least one family and one aspect")
    empty = [name for name, group in _groups(vocab) if not group]
    if empty:
        raise ValueError(f"{path}: empty word lists: {empty}")
    unsafe = [word for word in vocab.words() if _json_str(word) != f'"{word}"']
    if unsafe:  # review lines quote these without escaping
        raise ValueError(f"{path}: vocabulary entries need JSON escaping: {unsafe}")
    return vocab


def _groups(vocab: Vocabulary) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(name, word list) of every list that the generator picks an entry of."""
    yield from (("brands", vocab.brands), ("first_names", vocab.first_names), ("context", vocab.context))
    for name, aspect in zip(vocab.aspect_names, vocab.aspects, strict=True):
        yield from ((f"aspects.{name}.{p}", group) for p, group in zip(_POLARITIES, aspect, strict=True))
    for name in ("openers", "closers", "short_reviews", "summaries"):
        yield from ((f"{name}[{level}]", group) for level, group in zip(_LEVELS, getattr(vocab, name), strict=True))
    for family in vocab.families:
        yield from ((f"{family.noun}.{field}", getattr(family, field)) for field in ("kinds", "materials", "colors"))


@functools.cache
def vocabulary() -> Vocabulary:
    """The bundled vocabulary (``vocabulary.json`` beside this module), read and checked once per process."""
    return load_vocabulary(VOCABULARY_PATH)


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the generator; the defaults give data shaped like the real Amazon 2018 5-core files."""

    n_reviews: int
    n_users: int
    n_items: int
    seed: int = 0
    n_factors: int = 8
    user_zipf: float = 0.8
    item_zipf: float = 0.95
    min_per_user: int = 5
    min_per_item: int = 5
    start: str = "2010-01-01"
    end: str = "2018-09-30"
    rating_counts: tuple[int, int, int, int, int] = FASHION_5CORE_RATING_COUNTS
    noise: float = 0.55
    variant_rate: float = 0.01
    exact_duplicate_rate: float = 0.0005
    missing_text_rate: float = 0.005
    chunk_size: int = 20_000

    def validate(self) -> None:
        """Raise ValueError naming the field when the configuration cannot produce a dump."""
        for name in ("n_reviews", "n_users", "n_items", "chunk_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_reviews < self.n_users or self.n_reviews < self.n_items:
            raise ValueError(
                f"n_reviews ({self.n_reviews}) must be at least n_users ({self.n_users}) and n_items ({self.n_items})"
            )
        if self.n_users >= _MAX_ENTITIES or self.n_items >= _MAX_ENTITIES:
            raise ValueError(f"n_users and n_items must be below {_MAX_ENTITIES} (distinct Amazon-style identifiers)")
        if len(self.rating_counts) != 5 or min(self.rating_counts) < 0 or sum(self.rating_counts) <= 0:
            raise ValueError(f"rating_counts must be 5 non-negative counts, got {self.rating_counts}")
        if np.datetime64(self.end) <= np.datetime64(self.start) + np.timedelta64(90, "D"):
            raise ValueError(f"end ({self.end}) must be at least 90 days after start ({self.start})")
        for name in ("variant_rate", "exact_duplicate_rate", "missing_text_rate"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {getattr(self, name)}")


# ----------------------------------------------------------------------------------------------------------- helpers
def _random_ids(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """``n`` distinct random base-36 strings of ``width`` (<= 12) characters, like the tails of Amazon ids."""
    space = 36**width
    values = rng.integers(0, space, n, dtype=np.int64)
    for _ in range(100):  # collisions are rare (n**2 / 2 / 36**width); re-draw them
        _, first = np.unique(values, return_index=True)
        if len(first) == n:
            break
        repeated = np.ones(n, dtype=bool)
        repeated[first] = False
        values[repeated] = rng.integers(0, space, int(repeated.sum()), dtype=np.int64)
    else:
        raise ValueError(f"cannot draw {n} distinct identifiers of {width} characters")
    digits = np.empty((n, width), dtype=np.uint8)
    for pos in range(width - 1, -1, -1):
        digits[:, pos] = _BASE36[values % 36]
        values //= 36
    return digits.view(f"S{width}").ravel().astype(str)


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like probabilities over ``n`` entities, assigned in a random order (popularity unrelated to id)."""
    ranks = rng.permutation(n) + 1.0
    weights = (ranks + 5.0) ** -exponent
    return weights / weights.sum()


def _allocate(
    n_total: int, n: int, minimum: int, cap: int, weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Counts per entity summing to ``n_total``: ``minimum`` each (lowered so it fits) plus a weighted multinomial.

    No count exceeds ``cap`` (when ``cap * n >= n_total``): the excess is dealt again among the entities below it.
    """
    floor = min(minimum, n_total // n)
    counts = floor + rng.multinomial(n_total - floor * n, weights)
    cap = max(cap, -(-n_total // n))
    for _ in range(100):
        excess = int(np.maximum(counts - cap, 0).sum())
        if excess == 0:
            break
        counts = np.minimum(counts, cap)
        room = np.where(counts < cap, weights, 0.0)
        counts += rng.multinomial(excess, room / room.sum())
    return counts


def _dates(days: np.ndarray, start: np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) arrays of ``start + days``."""
    dates = start + days.astype("timedelta64[D]")
    months = dates.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months).astype(np.int64) + 1
    return year, month, day


@contextmanager
def _open_text_out(path: Path, compresslevel: int) -> Iterator[IO[str]]:
    """Text writer for ``path``; gzip (header without mtime or name, hence reproducible bytes) when it ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0) as gz:
                with io.TextIOWrapper(gz, encoding="utf-8", newline="\n", write_through=False) as text:
                    yield text
        else:
            with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as text:
                yield text


# -------------------------------------------------------------------------------------------------------- the world
@dataclass
class _World:
    """Users, items and every review as numpy arrays (no strings per review)."""

    user_ids: np.ndarray
    user_names: list[str | None]
    asins: np.ndarray
    item_family: np.ndarray
    item_material: np.ndarray
    item_colors: list[list[int]]
    item_has_style: np.ndarray
    item_launch: np.ndarray
    # per review (base reviews followed by variant and duplicate copies)
    user: np.ndarray
    item: np.ndarray
    day: np.ndarray
    rating: np.ndarray
    text_level: np.ndarray
    opener: np.ndarray
    context: np.ndarray
    closer: np.ndarray
    n_sent: np.ndarray
    aspect: np.ndarray
    polarity: np.ndarray
    template: np.ndarray
    summary: np.ndarray
    color: np.ndarray
    text_color: np.ndarray
    size: np.ndarray
    vote: np.ndarray
    verified: np.ndarray
    has_text: np.ndarray
    has_summary: np.ndarray
    n_images: np.ndarray
    image_key: np.ndarray
    order: np.ndarray
    n_variants: int
    n_exact_duplicates: int


def _build_users(cfg: SyntheticConfig, rng: np.random.Generator) -> tuple[np.ndarray, list[str | None]]:
    """reviewerIDs (``A`` + 12-13 base-36 chars) and reviewerNames (``Amazon Customer`` for many, a few missing)."""
    n = cfg.n_users
    core = _random_ids(rng, n, 12)
    extra = np.where(rng.random(n) < 0.5, _BASE36[rng.integers(0, 36, n)].view("S1").astype(str), "")
    user_ids = np.char.add(np.char.add("A", core), extra)  # distinct cores: distinct ids whatever the extra char
    kind = rng.random(n)
    first_names = vocabulary().first_names
    first = rng.integers(0, len(first_names), n)
    initial = rng.integers(0, 26, n)
    names: list[str | None] = []
    for k, f, i in zip(kind.tolist(), first.tolist(), initial.tolist(), strict=True):
        if k < 0.005:
            names.append(None)
        elif k < 0.18:
            names.append("Amazon Customer")
        elif k < 0.19:
            names.append("Kindle Customer")
        elif k < 0.60:
            names.append(f"{first_names[f]} {chr(65 + i)}.")
        else:
            names.append(first_names[f])
    return user_ids, names


def _sample_pairs(
    cfg: SyntheticConfig, rng: np.random.Generator, item_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) per base review: skewed counts, about ``min_per_*`` each, a user reviews an item once."""
    n = cfg.n_reviews
    user_weights = _zipf_weights(cfg.n_users, cfg.user_zipf, rng)
    # A user reviews at most half of the items, so that every user's items can be distinct.
    user_counts = _allocate(n, cfg.n_users, cfg.min_per_user, max(1, cfg.n_items // 2), user_weights, rng)
    item_counts = _allocate(n, cfg.n_items, cfg.min_per_item, n, item_weights, rng)
    user = rng.permutation(np.repeat(np.arange(cfg.n_users, dtype=np.int32), user_counts))
    item = np.repeat(np.arange(cfg.n_items, dtype=np.int32), item_counts)
    # Re-draw the item of a repeated (user, item) pair: by popularity first, then uniformly (heavy users collide with
    # the popular items again and again). A pair still repeated after that (rare) stays as it is.
    for round_ in range(60):
        key = user.astype(np.int64) * cfg.n_items + item
        _, first = np.unique(key, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        n_dup = int(dup.sum())
        if n_dup == 0:
            break
        if round_ < 5:
            item[dup] = rng.choice(cfg.n_items, size=n_dup, p=item_weights).astype(np.int32)
        else:
            item[dup] = rng.integers(0, cfg.n_items, n_dup, dtype=np.int32)
    return user, item


def _ratings(
    cfg: SyntheticConfig, rng: np.random.Generator, user: np.ndarray, item: np.ndarray, item_family: np.ndarray
) -> np.ndarray:
    """Low-rank + bias scores cut at the quantiles that reproduce ``cfg.rating_counts``; int8 ratings 1..5."""
    k = cfg.n_factors
    user_bias = 0.45 * rng.standard_t(4, cfg.n_users).clip(-6, 6)
    item_bias = 0.35 * rng.standard_normal(cfg.n_items)
    family_factors = 0.45 * rng.standard_normal((len(vocabulary().families), k))
    user_factors = 0.45 * rng.standard_normal((cfg.n_users, k))
    item_factors = family_factors[item_family] + 0.25 * rng.standard_normal((cfg.n_items, k))
    score = np.empty(len(user), dtype=np.float64)
    step = 1 << 18
    for lo in range(0, len(user), step):  # chunked so the (n, k) products stay small
        u, i = user[lo : lo + step], item[lo : lo + step]
        affinity = np.einsum("nk,nk->n", user_factors[u], item_factors[i])
        score[lo : lo + step] = user_bias[u] + item_bias[i] + affinity
    score += cfg.noise * rng.standard_normal(len(user))
    counts = np.asarray(cfg.rating_counts, dtype=np.float64)
    cuts = np.quantile(score, np.cumsum(counts / counts.sum())[:-1])
    return (np.searchsorted(cuts, score, side="right") + 1).astype(np.int8)


def _review_days(
    cfg: SyntheticConfig, rng: np.random.Generator, user: np.ndarray, item: np.ndarray, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """Day of each review: after the item's launch and the user's first visit; more reviews in later years."""
    margin = 60
    launch = ((span - margin) * rng.random(cfg.n_items) ** 0.6).astype(np.int32)
    joined = ((span - margin) * rng.random(cfg.n_users) ** 0.5).astype(np.int32)
    earliest = np.maximum(launch[item], joined[user])
    day = earliest + rng.exponential(420.0, len(user)).astype(np.int32)
    late = day >= span
    day[late] = earliest[late] + (rng.random(int(late.sum())) * (span - earliest[late])).astype(np.int32)
    return day, launch


def _build_world(cfg: SyntheticConfig) -> _World:
    """Draw everything numeric: who reviewed what, when, how, and the text/style choices of each review."""
    vocab = vocabulary()
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed))
    span = int((np.datetime64(cfg.end) - np.datetime64(cfg.start)).astype(np.int64))

    user_ids, user_names = _build_users(cfg, rng)
    asins = np.char.add("B0", _random_ids(rng, cfg.n_items, 8))
    item_family = rng.integers(0, len(vocab.families), cfg.n_items).astype(np.int16)
    item_material = rng.integers(0, 1 << 15, cfg.n_items).astype(np.int16)  # reduced mod len(materials) later
    item_has_style = rng.random(cfg.n_items) < 0.9
    # Each item comes in 1..5 colours of its family's palette (distinct: the first ones of a random permutation).
    palette_size = np.array([len(f.colors) for f in vocab.families])[item_family]
    widest = int(palette_size.max())
    keys = rng.random((cfg.n_items, widest))
    keys[np.arange(widest)[None, :] >= palette_size[:, None]] = 2.0
    n_colors = np.minimum(rng.integers(1, 6, cfg.n_items), palette_size)
    item_colors = [row[:c] for row, c in zip(np.argsort(keys, axis=1).tolist(), n_colors.tolist(), strict=True)]
    item_weights = _zipf_weights(cfg.n_items, cfg.item_zipf, rng)

    user, item = _sample_pairs(cfg, rng, item_weights)
    rating = _ratings(cfg, rng, user, item, item_family)
    day, item_launch = _review_days(cfg, rng, user, item, span)
    n = len(user)

    # Text choices: the words follow the rating, with some slack (a 4-star review written like a 5 or a 3).
    shift = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=n, p=[0.08, 0.84, 0.08])
    text_level = np.clip(rating + shift, 1, 5).astype(np.int8)
    slots = len(vocab.aspects)  # each aspect at most once in a review
    n_sent = np.minimum(rng.choice(len(_N_SENT_P), size=n, p=_N_SENT_P) + (rating <= 2), slots).astype(np.int8)
    opener = np.where(rng.random(n) < 0.7, rng.integers(0, 1 << 15, n), -1).astype(np.int16)
    context = np.where(rng.random(n) < 0.25, rng.integers(0, len(vocab.context), n), -1).astype(np.int8)
    closer = np.where(rng.random(n) < 0.4, rng.integers(0, 1 << 15, n), -1).astype(np.int16)
    short = rng.random(n) < 0.12  # one short line only ("Love it!"), as many real reviews are
    n_sent[short] = 0
    opener[short] = context[short] = closer[short] = -1
    # Distinct aspects within a review: row r talks about the aspects in the order of a random permutation.
    permutations = np.array(list(itertools.permutations(range(slots))), dtype=np.int8)
    aspect = permutations[rng.integers(0, len(permutations), n)]
    # 2 positive (u < P(pos)), 1 neutral (u < P(pos) + P(neu)), 0 negative; float32 keeps the (n, slots) draw small.
    u = rng.random((n, slots), dtype=np.float32)
    p_pos = _POLARITY[:, 0].astype(np.float32)[text_level - 1][:, None]
    p_not_neg = _POLARITY.sum(axis=1).astype(np.float32)[text_level - 1][:, None]
    polarity = (u < p_pos).astype(np.int8) + (u < p_not_neg).astype(np.int8)
    del u
    template = rng.integers(0, vocab.max_templates * 64, (n, slots), dtype=np.int16)
    summary = np.where(rng.random(n) < 0.35, -1, rng.integers(0, 1 << 15, n)).astype(np.int16)

    # Style: one of the item's (colour, size) combinations. A variant line is the same review shown on another
    # combination (so only items with several combinations get one); an exact duplicate repeats the line as is.
    n_sizes = np.maximum(np.array([len(f.sizes) for f in vocab.families])[item_family], 1)
    combos = (n_colors * n_sizes)[item]
    combo = (rng.random(n) * combos).astype(np.int64)
    variants = np.flatnonzero((rng.random(n) < cfg.variant_rate) & item_has_style[item] & (combos > 1))
    duplicates = np.flatnonzero(rng.random(n) < cfg.exact_duplicate_rate)
    source = np.concatenate([np.arange(n), variants, duplicates])
    total = len(source)

    def copy(a: np.ndarray) -> np.ndarray:
        return a[source]

    other = combos[variants]
    variant_combo = (combo[variants] + 1 + (rng.random(len(variants)) * (other - 1)).astype(np.int64)) % other
    combo = np.concatenate([combo, variant_combo, combo[duplicates]])
    row_sizes = copy(n_sizes[item])
    color = (combo // row_sizes).astype(np.int16)
    size = (combo % row_sizes).astype(np.int16)
    n_images = np.where(rng.random(n) < 0.03, rng.integers(1, 3, n), 0).astype(np.int8)
    vote = np.where(rng.random(n) < 0.08, np.minimum(2 + rng.geometric(0.25, n) ** 2 // 2, 2500), 0).astype(np.int32)
    # Rows sorted like the real 5-core files: grouped by item, newest first, copies beside their source.
    order = np.lexsort((np.arange(total), -copy(day), copy(item)))
    return _World(
        user_ids=user_ids,
        user_names=user_names,
        asins=asins,
        item_family=item_family,
        item_material=item_material,
        item_colors=item_colors,
        item_has_style=item_has_style,
        item_launch=item_launch,
        user=copy(user),
        item=copy(item),
        day=copy(day),
        rating=copy(rating),
        text_level=copy(text_level),
        opener=copy(opener),
        context=copy(context),
        closer=copy(closer),
        n_sent=copy(n_sent),
        aspect=copy(aspect),
        polarity=copy(polarity),
        template=copy(template),
        summary=copy(summary),
        color=color,
        text_color=color[source],  # a variant line repeats its source's text, colour words included
        size=size,
        vote=copy(vote),
        verified=copy(rng.random(n) < 0.93),
        has_text=copy(rng.random(n) >= cfg.missing_text_rate),
        has_summary=copy(rng.random(n) >= 0.001),
        n_images=copy(n_images),
        image_key=copy(rng.integers(0, 36**7, n, dtype=np.int64)),
        order=order,
        n_variants=len(variants),
        n_exact_duplicates=len(duplicates),
    )


# --------------------------------------------------------------------------------------------------------- writing
def _json_str(text: str) -> str:
    """``text`` as a JSON string literal, exactly as ``json.dumps`` writes it (fast path for plain ASCII)."""
    if text.isascii() and '"' not in text and "\\" not in text and text.isprintable():
        return f'"{text}"'
    return json.dumps(text)


def _compose_text(
    vocab: Vocabulary,
    level: int,
    opener: int,
    context: int,
    closer: int,
    n_sent: int,
    aspects: list[int],
    polarities: list[int],
    templates: list[int],
) -> str:
    """A review body template at ``level`` (1..5): opener, context, aspect sentences and closer, or one short line."""
    parts: list[str] = []
    if opener >= 0:
        group = vocab.openers[level - 1]
        parts.append(group[opener % len(group)])
    if context >= 0:
        parts.append(vocab.context[context])
    for s in range(n_sent):
        group = vocab.aspects[aspects[s]][polarities[s]]
        parts.append(group[templates[s] % len(group)])
    if closer >= 0:
        group = vocab.closers[level - 1]
        parts.append(group[closer % len(group)])
    if not parts:
        group = vocab.short_reviews[level - 1]
        parts.append(group[templates[0] % len(group)])
    return " ".join(parts)


def _compose_summary(vocab: Vocabulary, rating: int, level: int, choice: int) -> str:
    """Amazon's automatic ``N Stars`` summary (``choice`` < 0) or a short phrase at ``level``."""
    if choice < 0:
        return vocab.star_summaries[rating - 1]
    group = vocab.summaries[level - 1]
    return group[choice % len(group)]


def _image_urls(key: int, count: int) -> list[str]:
    """Review-image URLs shaped like the real ones (``.../images/I/<11 chars>._SY88.jpg``)."""
    urls = []
    for c in range(count):
        k = (key * 131 + c * 7_919) % 36**7
        digits = "".join(chr(_BASE36[(k // 36**p) % 36]) for p in range(7))
        urls.append(f"https://images-na.ssl-images-amazon.com/images/I/71{digits}L._SY88.jpg")
    return urls


@dataclass(frozen=True)
class _ItemWords:
    """What the reviews of one item say about it."""

    asin: str
    noun: str
    material: str
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    has_style: bool


def _item_words(w: _World, vocab: Vocabulary) -> list[_ItemWords]:
    """Per-item words, resolved once so the per-line loop only indexes Python lists."""
    words = []
    for it, (fam, mat, has_style) in enumerate(
        zip(w.item_family.tolist(), w.item_material.tolist(), w.item_has_style.tolist(), strict=True)
    ):
        family = vocab.families[fam]
        words.append(
            _ItemWords(
                asin=str(w.asins[it]),
                noun=family.noun,
                material=family.materials[mat % len(family.materials)],
                colors=tuple(family.colors[c] for c in w.item_colors[it]),
                sizes=family.sizes,
                has_style=bool(has_style),
            )
        )
    return words


def _review_lines(w: _World, start: np.datetime64, chunk: int) -> Iterator[tuple[str, int]]:
    """Yield (JSON line, rating) for every row in file order, serialised like ``json.dumps`` with default options.

    Rows are processed ``chunk`` at a time: their numpy columns become Python lists (numpy scalar access per field
    would dominate the cost), then each line is assembled from pre-escaped pieces.
    """
    vocab = vocabulary()  # its words need no JSON escaping: load_vocabulary checked them
    items = _item_words(w, vocab)
    user_ids = [_json_str(str(u)) for u in w.user_ids.tolist()]
    user_names = ["" if n is None else f'"reviewerName": {_json_str(n)}, ' for n in w.user_names]
    day0 = int(start.astype("datetime64[D]").astype(np.int64))
    summaries: dict[tuple[int, int, int, str], str] = {}  # a few hundred distinct summary fields
    summary_group_size = np.array([len(group) for group in vocab.summaries])
    for lo in range(0, len(w.order), chunk):
        rows = w.order[lo : lo + chunk]
        year, month, dom = _dates(w.day[rows], start)
        unix = ((w.day[rows].astype(np.int64) + day0) * _DAY).tolist()
        columns = zip(
            w.item[rows].tolist(),
            w.user[rows].tolist(),
            w.rating[rows].tolist(),
            w.text_level[rows].tolist(),
            w.opener[rows].tolist(),
            w.context[rows].tolist(),
            w.closer[rows].tolist(),
            w.n_sent[rows].tolist(),
            w.aspect[rows].tolist(),
            w.polarity[rows].tolist(),
            w.template[rows].tolist(),
            np.where(w.summary[rows] < 0, -1, w.summary[rows] % summary_group_size[w.text_level[rows] - 1]).tolist(),
            w.color[rows].tolist(),
            w.text_color[rows].tolist(),
            w.size[rows].tolist(),
            w.vote[rows].tolist(),
            w.verified[rows].tolist(),
            w.has_text[rows].tolist(),
            w.has_summary[rows].tolist(),
            w.n_images[rows].tolist(),
            w.image_key[rows].tolist(),
            year.tolist(),
            month.tolist(),
            dom.tolist(),
            unix,
            strict=True,
        )
        for (
            it,
            user,
            rating,
            level,
            opener,
            context,
            closer,
            n_sent,
            aspects,
            polarities,
            templates,
            summary,
            color_pick,
            text_color_pick,
            size_pick,
            vote,
            verified,
            has_text,
            has_summary,
            n_images,
            image_key,
            y,
            m,
            d,
            t,
        ) in columns:
            item = items[it]
            color = item.colors[color_pick % len(item.colors)]
            head = f'"image": {json.dumps(_image_urls(image_key, n_images))}, ' if n_images else ""
            vote_part = f'"vote": "{vote:,}", ' if vote else ""
            style = ""
            if item.has_style:
                size = f'"Size:": " {item.sizes[size_pick % len(item.sizes)]}", ' if item.sizes else ""
                style = f'"style": {{{size}"Color:": " {color}"}}, '
            text = ""
            if has_text:  # safe to quote as is (see above)
                body = _compose_text(vocab, level, opener, context, closer, n_sent, aspects, polarities, templates)
                text_color = item.colors[text_color_pick % len(item.colors)].lower()
                text = f'"reviewText": "{body.format(noun=item.noun, material=item.material, color=text_color)}", '
            summary_part = ""
            if has_summary:
                key = (rating, level, summary, item.noun)
                summary_part = summaries.get(key) or summaries.setdefault(
                    key, f'"summary": "{_compose_summary(vocab, rating, level, summary).format(noun=item.noun)}", '
                )
            yield (
                f'{{{head}"overall": {rating}.0, {vote_part}"verified": {"true" if verified else "false"}, '
                f'"reviewTime": "{m:02d} {d}, {y}", "reviewerID": {user_ids[user]}, "asin": "{item.asin}", '
                f'{style}{user_names[user]}{text}{summary_part}"unixReviewTime": {t}}}',
                rating,
            )


def _meta_lines(w: _World, seed: int, start: np.datetime64) -> Iterator[str]:
    """Yield the 2018 meta record (JSON line, keys in the order of the real meta files) of every item.

    The random draws are made for all items at once (scalar draws from a numpy Generator cost microseconds each).
    """
    vocab = vocabulary()
    n = len(w.asins)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2018]))
    kind = rng.integers(0, 1 << 15, n).tolist()
    brand = np.where(rng.random(n) < 0.93, rng.integers(0, len(vocab.brands), n), -1).tolist()
    colour_in_title = (rng.random(n) < 0.5).tolist()
    n_description = rng.choice(3, size=n, p=[0.2, 0.4, 0.4]).tolist()
    feature_keys = np.argsort(rng.random((n, max(len(f.features) for f in vocab.families))), axis=1).tolist()
    n_features = rng.integers(0, 1 << 15, n).tolist()
    price_kind = rng.random(n).tolist()
    price = rng.lognormal(3.2, 0.6, n).tolist()
    price_high = rng.uniform(1.2, 2.5, n).tolist()
    also_buy = rng.integers(0, n, (n, 5)).tolist()
    n_also_buy = rng.integers(0, 6, n).tolist()
    rank = rng.integers(1_000, 2_000_000, n).tolist()
    has_date = (rng.random(n) < 0.6).tolist()
    launch_year, launch_month, launch_day = (a.tolist() for a in _dates(w.item_launch, start))
    has_details = (rng.random(n) < 0.4).tolist()
    dims = rng.uniform((4.0, 3.0, 1.0, 0.2), (16.0, 12.0, 5.0, 4.0), (n, 4)).round(1).tolist()
    model = rng.integers(100, 1000, n).tolist()
    encode = json.JSONEncoder().encode
    for it in range(n):
        family = vocab.families[w.item_family[it]]
        item_kind = family.kinds[kind[it] % len(family.kinds)]
        material = family.materials[w.item_material[it] % len(family.materials)]
        colors = [family.colors[c] for c in w.item_colors[it]]
        item_brand = vocab.brands[brand[it]] if brand[it] >= 0 else ""
        noun_title = family.noun.removeprefix("pair of ").title()
        title = f"{item_brand} {family.category[1]}'s {item_kind} {material.title()} {noun_title}".strip()
        if len(colors) == 1 and colour_in_title[it]:
            title += f", {colors[0]}"
        description = []
        if n_description[it] >= 1:
            plural = "s" if len(colors) > 1 else ""
            description.append(
                f"This {item_kind.lower()} {family.noun} in {material} comes in {len(colors)} colour{plural}: "
                f"{', '.join(c.lower() for c in colors)}."
            )
        if n_description[it] == 2:
            description.append(f"Designed by {item_brand or 'our studio'} for everyday wear.")
        k = n_features[it] % (len(family.features) + 1)
        features = [material.title()] if k else []
        features += [family.features[j] for j in sorted(j for j in feature_keys[it] if j < len(family.features))[:k]]
        if price_kind[it] < 0.75:
            item_price = f"${price[it]:.2f}"
        elif price_kind[it] < 0.9:
            low = price[it] * 0.6
            item_price = f"${low:.2f} - ${low * price_high[it]:.2f}"
        else:
            item_price = ""
        date = f"{_MONTHS[launch_month[it] - 1]} {launch_day[it]}, {launch_year[it]}" if has_date[it] else ""
        record: dict[str, Any] = {
            "category": list(family.category),
            "tech1": "",
            "description": description,
            "fit": "",
            "title": title,
            "also_buy": [str(w.asins[j]) for j in also_buy[it][: n_also_buy[it]] if j != it],
            "tech2": "",
            "brand": item_brand,
            "feature": features,
            "rank": f"{rank[it]:,}in Clothing, Shoes & Jewelry (",
            "also_view": [],
            "main_cat": "Amazon Fashion",
            "similar_item": "",
            "date": date,
            "price": item_price,
            "asin": str(w.asins[it]),
            "imageURL": [],
            "imageURLHighRes": [],
        }
        if has_details[it]:
            d = dims[it]
            record["details"] = {
                "Package Dimensions:": f"{d[0]} x {d[1]} x {d[2]} inches",
                "Shipping Weight:": f"{d[3]} pounds",
                "Item model number:": f"{record['asin'][2:6]}-{model[it]}",
            }
        yield encode(record)


def write_amazon2018_dump(
    reviews_path: str | Path,
    meta_path: str | Path | None,
    n_reviews: int,
    n_users: int,
    n_items: int,
    seed: int = 0,
    *,
    compresslevel: int = 6,
    **options: Any,
) -> dict[str, Any]:
    """Write a synthetic Amazon 2018 reviews dump (and its meta file) and return its statistics.

    Args:
        reviews_path: output JSON-lines file; gzip-compressed when it ends in ``.gz`` (reproducible bytes).
        meta_path: output meta JSON-lines file (``.gz`` as above), one record per asin; None to skip it.
        n_reviews: number of distinct (user, item) reviews; the file has a few more lines (variant and exact copies).
        n_users: number of reviewers (each gets about ``min_per_user`` reviews at least).
        n_items: number of asins.
        seed: everything is a function of the arguments: same arguments, same bytes.
        compresslevel: gzip level (1 is about twice as fast for large benchmark dumps).
        **options: any other :class:`SyntheticConfig` field (e.g. ``variant_rate=0``, ``start="2005-01-01"``).

    Returns:
        Counts describing what was written: lines, distinct users/items, rating histogram, copies, time range, bytes.
    """
    began = time.perf_counter()
    cfg = SyntheticConfig(n_reviews=n_reviews, n_users=n_users, n_items=n_items, seed=seed, **options)
    cfg.validate()
    world = _build_world(cfg)
    start = np.datetime64(cfg.start, "D")
    reviews_path = Path(reviews_path)
    rating_hist = [0] * 5
    n_lines = 0
    with _open_text_out(reviews_path, compresslevel) as out:
        buffer: list[str] = []
        for line, rating in _review_lines(world, start, cfg.chunk_size):
            buffer.append(line)
            rating_hist[rating - 1] += 1
            if len(buffer) >= cfg.chunk_size:
                out.write("\n".join(buffer) + "\n")
                n_lines += len(buffer)
                buffer.clear()
        if buffer:
            out.write("\n".join(buffer) + "\n")
            n_lines += len(buffer)
    n_meta = 0
    if meta_path is not None:
        meta_path = Path(meta_path)
        with _open_text_out(meta_path, compresslevel) as out:
            for line in _meta_lines(world, cfg.seed, start):
                out.write(line + "\n")
                n_meta += 1
    unix0 = int(start.astype(np.int64)) * _DAY
    stats: dict[str, Any] = {
        "reviews_path": str(reviews_path),
        "meta_path": None if meta_path is None else str(meta_path),
        "seed": seed,
        "n_lines": n_lines,
        "n_distinct_reviews": cfg.n_reviews,
        "n_variant_lines": world.n_variants,
        "n_exact_duplicate_lines": world.n_exact_duplicates,
        "n_users": int(len(np.unique(world.user))),
        "n_items": int(len(np.unique(world.item))),
        "n_distinct_user_item_pairs": int(len(np.unique(world.user.astype(np.int64) * cfg.n_items + world.item))),
        "rating_counts": {str(k + 1): v for k, v in enumerate(rating_hist)},
        "missing_review_text": int((~world.has_text).sum()),
        "first_unix_time": unix0 + int(world.day.min()) * _DAY,
        "last_unix_time": unix0 + int(world.day.max()) * _DAY,
        "n_meta_records": n_meta,
        "reviews_bytes": reviews_path.stat().st_size,
        "meta_bytes": None if meta_path is None else Path(meta_path).stat().st_size,
        "seconds": round(time.perf_counter() - began, 3),
    }
    logger.info("wrote %d review lines to %s in %.1f s", n_lines, reviews_path, stats["seconds"])
    return stats


def main(argv: list[str] | None = None) -> int:
    """``python -m reczero_verl.sample_data.synthetic --reviews R --meta M --n-reviews N``: write, print stats."""
    parser = argparse.ArgumentParser(
        prog="python -m reczero_verl.sample_data.synthetic",
        description="Write a deterministic synthetic dump in the raw Amazon 2018 review + meta formats.",
    )
    parser.add_argument("--reviews", required=True, type=Path, help="reviews output (.json or .json.gz)")
    parser.add_argument("--meta", type=Path, default=None, help="meta output (.json or .json.gz); omit to skip")
    parser.add_argument("--n-reviews", type=int, required=True, help="distinct (user, item) reviews")
    parser.add_argument("--n-users", type=int, default=None, help="reviewers (default: n_reviews / 8)")
    parser.add_argument("--n-items", type=int, default=None, help="asins (default: n_reviews / 25)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--compresslevel", type=int, default=6, help="gzip level for .gz outputs (default 6)")
    args = parser.parse_args(argv)
    n_users = args.n_users or max(1, args.n_reviews // 8)
    n_items = args.n_items or max(1, args.n_reviews // 25)
    try:
        stats = write_amazon2018_dump(
            args.reviews, args.meta, args.n_reviews, n_users, n_items, args.seed, compresslevel=args.compresslevel
        )
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(json.dumps(stats, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
