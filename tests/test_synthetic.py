# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""The synthetic Amazon 2018 generator: reproducible bytes, the real raw formats, realistic shape."""

from __future__ import annotations

import gzip
import json
import re
import shlex
import zlib
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reczero_verl.sample_data import synthetic
from reczero_verl.sample_data.synthetic import FASHION_5CORE_RATING_COUNTS, write_amazon2018_dump

N_REVIEWS, N_USERS, N_ITEMS = 3000, 300, 100


def _read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> tuple[dict, list[str], list[dict], list[dict]]:
    out = tmp_path_factory.mktemp("synthetic")
    stats = write_amazon2018_dump(out / "reviews.json.gz", out / "meta.json.gz", N_REVIEWS, N_USERS, N_ITEMS, seed=7)
    lines = _read_lines(out / "reviews.json.gz")
    return (
        stats,
        lines,
        [json.loads(line) for line in lines],
        [json.loads(x) for x in _read_lines(out / "meta.json.gz")],
    )


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    args = (400, 40, 20)
    for name in ("a.json.gz", "b.json.gz", "c.json"):
        write_amazon2018_dump(tmp_path / name, tmp_path / f"meta_{name}", *args, seed=3)
    write_amazon2018_dump(tmp_path / "d.json.gz", tmp_path / "meta_d.json.gz", *args, seed=4)
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    assert (tmp_path / "meta_a.json.gz").read_bytes() == (tmp_path / "meta_b.json.gz").read_bytes()
    # gzip and plain carry the same text; another seed gives other data
    assert gzip.decompress((tmp_path / "a.json.gz").read_bytes()) == (tmp_path / "c.json").read_bytes()
    assert (tmp_path / "a.json.gz").read_bytes() != (tmp_path / "d.json.gz").read_bytes()


def test_lines_are_raw_amazon_2018_records(dump):
    _, lines, records, _ = dump
    required = {
        "overall": float,
        "verified": bool,
        "reviewTime": str,
        "reviewerID": str,
        "asin": str,
        "unixReviewTime": int,
    }
    optional = {"reviewerName": str, "reviewText": str, "summary": str, "style": dict, "vote": str, "image": list}
    for line, rec in zip(lines, records, strict=True):
        # serialised exactly like Python's json.dumps (as the real files re-serialised in shared/data are)
        assert json.dumps(rec) == line
        for key, kind in required.items():
            assert isinstance(rec[key], kind), (key, line)
        assert set(rec) <= set(required) | set(optional), line
        for key in set(rec) & set(optional):
            assert isinstance(rec[key], optional[key]), (key, line)
        assert rec["overall"] in (1.0, 2.0, 3.0, 4.0, 5.0)
        assert re.fullmatch(r"A[0-9A-Z]{12,13}", rec["reviewerID"]), rec["reviewerID"]
        assert re.fullmatch(r"B0[0-9A-Z]{8}", rec["asin"]), rec["asin"]
        # reviewTime "MM D, YYYY" is the UTC date of unixReviewTime, which is a midnight
        assert rec["unixReviewTime"] % 86_400 == 0
        when = datetime.fromtimestamp(rec["unixReviewTime"], tz=timezone.utc)
        assert rec["reviewTime"] == f"{when.month:02d} {when.day}, {when.year}"
        for key, value in rec.get("style", {}).items():
            assert key in ("Size:", "Color:") and value.startswith(" ")
        if "vote" in rec:
            assert re.fullmatch(r"\d{1,3}(,\d{3})*", rec["vote"])
    # the real files' keys order: overall first unless an image list leads
    assert all(next(iter(rec)) in ("overall", "image") for rec in records)


def test_stats_describe_the_file(dump):
    stats, lines, records, meta = dump
    assert stats["n_lines"] == len(lines)
    assert stats["n_lines"] == N_REVIEWS + stats["n_variant_lines"] + stats["n_exact_duplicate_lines"]
    histogram = Counter(str(int(r["overall"])) for r in records)
    assert stats["rating_counts"] == {k: histogram.get(k, 0) for k in "12345"}
    assert stats["n_users"] == len({r["reviewerID"] for r in records}) == N_USERS
    assert stats["n_items"] == len({r["asin"] for r in records}) == N_ITEMS
    assert stats["n_distinct_user_item_pairs"] == len({(r["reviewerID"], r["asin"]) for r in records})
    assert stats["missing_review_text"] == sum("reviewText" not in r for r in records)
    assert stats["first_unix_time"] == min(r["unixReviewTime"] for r in records)
    assert stats["last_unix_time"] == max(r["unixReviewTime"] for r in records)
    assert stats["n_meta_records"] == len(meta)


def test_ratings_follow_the_real_fashion_marginal(dump):
    _, _, records, _ = dump
    counts = Counter(int(r["overall"]) for r in records)
    total = sum(counts.values())
    target = [c / sum(FASHION_5CORE_RATING_COUNTS) for c in FASHION_5CORE_RATING_COUNTS]
    for rating, share in enumerate(target, start=1):
        # quantile cuts reproduce the shares; copies of reviews (about 1% of lines) move them slightly
        assert abs(counts[rating] / total - share) < 0.02, (rating, counts)
    assert (counts[4] + counts[5]) / total > 0.75  # skewed toward 4-5 like the real file (82.8%)


def test_popularity_is_skewed_and_every_user_and_item_has_five_reviews(dump):
    _, _, records, _ = dump
    pairs = {(r["reviewerID"], r["asin"]) for r in records}
    per_user = Counter(u for u, _ in pairs)
    per_item = Counter(i for _, i in pairs)
    assert min(per_user.values()) >= 5 and min(per_item.values()) >= 5
    # with equal popularity the top 10% of items would hold about 10% of the reviews
    top = sorted(per_item.values(), reverse=True)[: N_ITEMS // 10]
    assert sum(top) / len(pairs) > 0.25
    top_users = sorted(per_user.values(), reverse=True)[: N_USERS // 10]
    assert sum(top_users) / len(pairs) > 0.2


def test_times_span_years_with_ties_and_item_grouped_newest_first(dump):
    _, _, records, _ = dump
    times = [r["unixReviewTime"] for r in records]
    assert (max(times) - min(times)) / (365 * 86_400) > 4
    assert len(set(times)) < len(times)  # day granularity: ties, as in the real files
    previous: dict[str, int] = {}
    seen_done: set[str] = set()
    for rec in records:
        asin = rec["asin"]
        if asin in previous:
            assert rec["unixReviewTime"] <= previous[asin]
        else:
            assert asin not in seen_done
        if previous and asin not in previous:
            seen_done.update(previous)
            previous.clear()
        previous[asin] = rec["unixReviewTime"]


def test_repeated_pairs_are_variant_or_exact_copies(dump):
    stats, lines, records, _ = dump
    by_pair: dict[tuple[str, str], list[int]] = defaultdict(list)
    for k, rec in enumerate(records):
        by_pair[(rec["reviewerID"], rec["asin"])].append(k)
    repeated = [rows for rows in by_pair.values() if len(rows) > 1]
    assert repeated, "a realistic dump has some variant reviews"
    for rows in repeated:
        first = records[rows[0]]
        for k in rows[1:]:
            other = records[k]
            for key in ("overall", "unixReviewTime", "reviewText", "summary"):
                assert other.get(key) == first.get(key)
            if lines[k] != lines[rows[0]]:  # a variant: the same review shown on another size / colour
                assert other["style"] != first["style"]
    exact = len(lines) - len(set(lines))
    assert exact == stats["n_exact_duplicate_lines"]


def _sentence_polarity(text: str) -> list[int]:
    """Polarity (0 negative, 1 neutral, 2 positive) of each aspect sentence of ``text`` that a template produced."""
    found = []
    for aspect in synthetic.vocabulary().aspects:
        for polarity, group in enumerate(aspect):
            for template in group:
                pattern = re.escape(template).replace(r"\{material\}", ".+?").replace(r"\{color\}", ".+?")
                pattern = pattern.replace(r"\{noun\}", ".+?")
                found += [polarity] * len(re.findall(pattern, text))
    return found


def test_review_words_follow_the_rating(dump):
    _, _, records, _ = dump
    positive_share: dict[int, list[float]] = defaultdict(list)
    for rec in records:
        polarities = _sentence_polarity(rec.get("reviewText", ""))
        if polarities:
            positive_share[int(rec["overall"])].append(sum(p == 2 for p in polarities) / len(polarities))
    means = [sum(v) / len(v) for _, v in sorted(positive_share.items())]
    assert len(means) == 5
    assert all(a < b for a, b in zip(means, means[1:], strict=False)), means
    assert means[0] < 0.3 < 0.8 < means[4]
    stars = Counter(
        (r["summary"], int(r["overall"])) for r in records if r.get("summary", "").endswith(("Stars", "Star"))
    )
    assert all(synthetic.vocabulary().star_summaries[rating - 1] == summary for summary, rating in stars)


def test_meta_matches_the_reviewed_items(dump):
    _, _, records, meta = dump
    assert len({m["asin"] for m in meta}) == len(meta)
    assert {m["asin"] for m in meta} == {r["asin"] for r in records}
    for m in meta:
        assert isinstance(m["title"], str) and m["title"]
        assert isinstance(m["category"], list) and m["category"][0] == "Clothing, Shoes & Jewelry"
        assert isinstance(m["description"], list) and isinstance(m["feature"], list)
        assert isinstance(m["brand"], str)
        assert m["price"] == "" or re.fullmatch(r"\$\d+\.\d\d( - \$\d+\.\d\d)?", m["price"]), m["price"]
        assert all(re.fullmatch(r"B0[0-9A-Z]{8}", a) for a in m["also_buy"])
        assert isinstance(m.get("details", {}), dict)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_reviews": 10, "n_users": 20, "n_items": 5}, "n_reviews"),
        ({"n_reviews": 100, "n_users": 0, "n_items": 5}, "n_users"),
        ({"n_reviews": 100, "n_users": 10, "n_items": 5, "end": "2010-02-01"}, "end"),
        ({"n_reviews": 100, "n_users": 10, "n_items": 5, "rating_counts": (1, 2, 3)}, "rating_counts"),
        ({"n_reviews": 100, "n_users": 10, "n_items": 5, "variant_rate": 0.9}, "variant_rate"),
    ],
)
def test_bad_configuration_names_the_field(tmp_path, kwargs, field):
    with pytest.raises(ValueError, match=field):
        write_amazon2018_dump(tmp_path / "r.json", None, **kwargs)
    assert not (tmp_path / "r.json").exists()


def _readme_command(readme: str) -> list[str]:
    """The arguments of the ``python -m reczero_verl.sample_data.synthetic`` command of the README's bash block."""
    block = re.search(r"```bash\n(python -m reczero_verl\.sample_data\.synthetic .*?)```", readme, re.DOTALL)
    assert block, "the README gives the generating command"
    words = shlex.split(block.group(1).replace("\\\n", " "))
    assert words[:3] == ["python", "-m", "reczero_verl.sample_data.synthetic"]
    return words[3:]


def test_bundled_sample_is_what_its_readme_says(tmp_path, capsys):
    """The README's command, run as written but into tmp_path, rewrites the shipped sample; its counts are stated."""
    folder = Path(synthetic.__file__).resolve().parent
    readme = (folder / "README.md").read_text(encoding="utf-8")
    argv = _readme_command(readme)
    shipped = {flag: folder / Path(argv[argv.index(flag) + 1]).name for flag in ("--reviews", "--meta")}
    for flag, path in shipped.items():  # the command writes the shipped files (from the repository root)
        assert argv[argv.index(flag) + 1] == f"reczero_verl/sample_data/{path.name}" and path.is_file()
        argv[argv.index(flag) + 1] = str(tmp_path / path.name)
    assert synthetic.main(argv) == 0
    stats = json.loads(capsys.readouterr().out)
    stated_zlib = re.search(r"zlib\s+(\d+\.\d+\.\d+)", readme)
    assert stated_zlib, "the README names the zlib release that wrote the files"
    for path in shipped.values():
        assert _read_lines(path) == _read_lines(tmp_path / path.name), path.name
        if zlib.ZLIB_RUNTIME_VERSION == stated_zlib.group(1):  # the gzip bytes depend on zlib's release
            assert path.read_bytes() == (tmp_path / path.name).read_bytes(), f"{path.name}: other gzip bytes"
    counts = stats["rating_counts"]
    assert f"{counts['1']} / {counts['2']} / {counts['3']} / {counts['4']} / {counts['5']:,}" in readme
    n_lines = len(_read_lines(shipped["--reviews"]))
    assert f"| `amazon2018_sample_reviews.json.gz` | Amazon 2018 reviews, JSON lines (gzip) | {n_lines:,} |" in readme
    assert f'plus {stats["n_variant_lines"]} "variant" lines' in readme
    assert sum(f.stat().st_size for f in folder.glob("*.gz")) < 1_000_000


def test_vocabulary_is_read_once_and_frozen():
    vocab = synthetic.vocabulary()
    assert synthetic.vocabulary() is vocab
    assert len(vocab.families) == 10 and vocab.aspect_names[0] == "fit" and len(vocab.openers) == 5
    assert all(isinstance(group, tuple) for group in (vocab.brands, *vocab.openers, *vocab.aspects[0]))
    with pytest.raises(AttributeError):
        vocab.brands = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda v: v["context"].append('Said "wow".'), "need JSON escaping"),
        (lambda v: v["openers"].pop("5"), "openers must map the rating levels"),
        (lambda v: v["families"][0].update(colors="no_such_palette"), "names no palette"),
        (lambda v: v["brands"].clear(), "empty word lists"),
        (lambda v: v.update(star_summaries=["One Star"]), "star_summaries"),
    ],
)
def test_a_bad_vocabulary_file_is_refused(tmp_path, edit, message):
    raw = json.loads(synthetic.VOCABULARY_PATH.read_text(encoding="utf-8"))
    edit(raw)
    path = tmp_path / "vocabulary.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        synthetic.load_vocabulary(path)


def test_command_line_writes_the_dump_and_prints_its_stats(tmp_path, capsys):
    reviews, meta = tmp_path / "r.json.gz", tmp_path / "m.json"
    argv = ["--reviews", str(reviews), "--meta", str(meta), "--n-reviews", "400", "--seed", "5"]
    assert synthetic.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_lines"] == len(_read_lines(reviews))
    assert printed["n_users"] == 400 // 8 and printed["n_items"] == 400 // 25  # the documented defaults
    assert printed["n_meta_records"] == len(_read_lines(meta))
    with pytest.raises(SystemExit):  # a bad configuration is an argparse error naming the field
        synthetic.main(["--reviews", str(reviews), "--n-reviews", "10", "--n-users", "20"])
    assert "n_reviews" in capsys.readouterr().err
