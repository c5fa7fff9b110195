# SPDX-FileCopyrightText: 2026 The reczero-verl Authors
# SPDX-License-Identifier: Apache-2.0
"""A run's files are published as one unit (issue 9, item 3): an output folder always holds exactly one complete
run, whether the rerun is killed with SIGKILL, fails, or is interrupted; stats.json says which run it is; a bad output
folder is refused before any work."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

import reczero_verl
from reczero_verl import durable
from reczero_verl.cli import main as cli_main
from reczero_verl.prepare import checks, pipeline, publish
from reczero_verl.prepare.sources import PrepareError
from reczero_verl.sample_data.synthetic import write_amazon2018_dump
from tests.test_prepare_pipeline import prepare

REPO = Path(__file__).resolve().parents[1]


def dump(folder: Path, n_reviews: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    reviews = folder / "reviews.json"
    write_amazon2018_dump(reviews, folder / "meta.json", n_reviews=n_reviews, n_users=n_reviews // 12,
                          n_items=max(30, n_reviews // 40), seed=seed)  # fmt: skip
    return reviews


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def staging_leftovers(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.prepare-*"))


def assert_one_complete_run(out: Path, reviews: Path) -> dict[str, Any]:
    """The folder holds one run's files, its stats match its parquet files, no test target is a train target, and
    the run is the one made from ``reviews``."""
    stats = json.loads((out / "stats.json").read_text())
    expected = {"stats.json", "train.parquet", "test.parquet"} | ({"val.parquet"} if stats["written"]["val"] else set())
    assert {p.name for p in out.iterdir()} == expected
    keys = {}
    for split in ("train", "test"):
        rows = pq.read_table(out / f"{split}.parquet").to_pylist()
        assert len(rows) == stats["written"][split]
        keys[split] = {(r["extra_info"]["user_id"], r["extra_info"]["item_id"]) for r in rows}
    assert not keys["train"] & keys["test"]
    assert stats["inputs"]["reviews"]["sha256"] == hashlib.sha256(reviews.read_bytes()).hexdigest()
    return stats


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("publish_inputs")
    return {"small": dump(base / "small", 600, seed=1), "large": dump(base / "large", 8000, seed=2)}


def _spawn(reviews: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "reczero_verl.cli", "prepare", "amazon", "--reviews", str(reviews),
         "--output-dir", str(out), "--test-ratio", "0.2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Poll ``predicate`` every 2 ms until it holds (True) or the process ends first (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("timed out")


def test_kill_9_during_a_rerun_leaves_the_previous_run_whole(tmp_path, inputs):
    out = tmp_path / "data"
    prepare("amazon", "--reviews", inputs["small"], "--output-dir", out, "--test-ratio", "0.2")
    before = snapshot(out)
    assert_one_complete_run(out, inputs["small"])

    # 1. killed as soon as its staging folder exists: mid-run, long before anything could be published
    proc = _spawn(inputs["large"], out)
    assert _wait_for(lambda: any(p.is_dir() for p in staging_leftovers(out)), proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert snapshot(out) == before
    assert staging_leftovers(out)  # what the killed run left beside the folder

    # 2. killed right after it wrote train.parquet into its staging folder (the moment that used to mix runs)
    earlier = set(staging_leftovers(out))

    def train_staged() -> bool:
        return any((p / "train.parquet").exists() for p in set(staging_leftovers(out)) - earlier if p.is_dir())

    proc = _spawn(inputs["large"], out)
    staged = _wait_for(train_staged, proc)
    proc.send_signal(signal.SIGKILL)
    code = proc.wait()
    if code == -signal.SIGKILL:
        assert staged and snapshot(out) == before
    else:  # it finished before the signal arrived: then the folder is the new run, whole
        assert code == 0
        assert_one_complete_run(out, inputs["large"])

    # 3. the next run cleans up after the killed ones and publishes
    stats = prepare("amazon", "--reviews", inputs["large"], "--output-dir", out, "--max-train", 50, "--max-test", 20)
    assert staging_leftovers(out) == []
    assert_one_complete_run(out, inputs["large"])
    assert stats["written"]["train"] == 50


@pytest.mark.parametrize("where", ["test.parquet", "stats.json", "interrupt"])
def test_a_failing_rerun_changes_nothing(tmp_path, inputs, monkeypatch, where):
    out = tmp_path / "data"
    prepare("amazon", "--reviews", inputs["small"], "--output-dir", out, "--val-ratio", "0.1")
    before = snapshot(out)
    assert "val.parquet" in before
    if where == "test.parquet":
        real = pipeline.write_samples

        def write_samples(rows, path):
            if path.name == "test.parquet":
                raise OSError(28, "No space left on device")
            return real(rows, path)

        monkeypatch.setattr(pipeline, "write_samples", write_samples)
        error: type[BaseException] = OSError
    elif where == "stats.json":

        def no_stats(*args, **kwargs):
            raise RuntimeError("accounting error")

        monkeypatch.setattr(pipeline, "finish_stats", no_stats)
        error = RuntimeError
    else:

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(pipeline, "gather_targets", interrupted)
        error = KeyboardInterrupt
    with pytest.raises(error):
        prepare("amazon", "--reviews", inputs["large"], "--output-dir", out, "--max-train", 30, "--max-test", 10)
    assert snapshot(out) == before
    assert staging_leftovers(out) == []


def test_rerun_replaces_the_whole_folder(tmp_path, inputs):
    out = tmp_path / "data"
    prepare("amazon", "--reviews", inputs["small"], "--output-dir", out, "--val-ratio", "0.1")
    assert (out / "val.parquet").exists()
    prepare("amazon", "--reviews", inputs["small"], "--output-dir", out)
    assert not (out / "val.parquet").exists()  # the earlier run's val file does not survive beside the new run
    assert_one_complete_run(out, inputs["small"])


def test_swap_without_rename_exchange(tmp_path, inputs, monkeypatch):
    monkeypatch.setattr(durable, "_exchange", lambda a, b: False)
    out = tmp_path / "nested" / "data"
    prepare("amazon", "--reviews", inputs["small"], "--output-dir", out, "--max-test", 5)
    prepare("amazon", "--reviews", inputs["small"], "--output-dir", out, "--max-test", 7)
    assert assert_one_complete_run(out, inputs["small"])["written"]["test"] == 7
    assert staging_leftovers(out) == []


def test_stats_json_identifies_the_run(tmp_path, inputs, monkeypatch):
    reviews = inputs["small"]
    meta = reviews.with_name("meta.json")
    out = tmp_path / "data"
    stats = prepare(
        "amazon", "--reviews", reviews, "--meta", meta, "--output-dir", out, "--seed", 7, "--test-ratio", 0.25,
        "--val-ratio", 0.05, "--max-train", 40, "--max-test", 9, "--split", "random",
    )  # fmt: skip
    run = stats["run"]
    assert run["reczero_verl"] == reczero_verl.__version__ and run["duckdb"] == duckdb.__version__
    assert run["seed"] == 7
    options = run["options"]
    assert (options["test_ratio"], options["val_ratio"], options["max_train"], options["max_test"]) == (
        0.25,
        0.05,
        40,
        9,
    )
    assert options["split"] == "random" and options["max_val"] is None
    assert "output_dir" not in options and "memory_limit" not in options  # where and how fast is not what
    for name, path in (("reviews", reviews), ("meta", meta)):
        fp = stats["inputs"][name]
        assert fp["path"] == str(path) and fp["size"] == path.stat().st_size
        assert fp["mtime_ns"] == path.stat().st_mtime_ns and fp["hashed"] == "whole file"
        assert fp["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads((out / "stats.json").read_text()) == stats
    # a large file is fingerprinted by its first and last MiB
    monkeypatch.setattr(checks, "FULL_HASH_BYTES", 1024)
    data = reviews.read_bytes()
    mib = 1024 * 1024
    big = checks.fingerprint(reviews)
    assert big["hashed"] == "first and last MiB"
    assert big["sha256"] == hashlib.sha256(data[:mib] + data[-mib:]).hexdigest()


def _never_runs(*args, **kwargs):
    raise AssertionError("the pipeline started although the output folder is unusable")


def _cli(reviews: Path, out: Path | str) -> int:
    return cli_main(["prepare", "amazon", "--reviews", str(reviews), "--output-dir", str(out)])


def test_output_folder_problems_are_found_before_the_pipeline(tmp_path, inputs, monkeypatch, caplog):
    monkeypatch.setattr(pipeline, "prepare_source", _never_runs)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    cases = {
        a_file: "is a file, not a folder",
        a_file / "sub": f"is under {a_file}, which is a file",
        used: "holds files that are not a prepare run (notes.txt)",
    }
    if Path("/sys").is_dir() and sys.platform.startswith("linux"):
        cases[Path("/sys/reczero-prepare-test")] = "cannot write in /sys"  # even root cannot create files there
    for out, message in cases.items():
        caplog.clear()
        assert _cli(inputs["small"], out) == 2
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and message in errors[0].getMessage() and "Traceback" not in caplog.text
    assert (used / "notes.txt").read_text() == "mine" and a_file.read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_folder_not_writable(tmp_path, inputs, monkeypatch, caplog):
    monkeypatch.setattr(pipeline, "prepare_source", _never_runs)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        assert _cli(inputs["small"], locked / "data") == 2
        assert "cannot write in" in caplog.text
        (inner := tmp_path / "inner").mkdir()
        os.chmod(inner, 0o500)
        assert _cli(inputs["small"], inner) == 2
        assert "is not writable" in caplog.text
    finally:
        os.chmod(locked, 0o700)
        os.chmod(tmp_path / "inner", 0o700)


def test_check_output_dir_accepts_new_and_previous_run_folders(tmp_path):
    assert publish.check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    run = tmp_path / "run"
    run.mkdir()
    for name in ("train.parquet", "test.parquet", "stats.json", "train.parquet.tmp"):
        (run / name).write_text("")
    assert publish.check_output_dir(run) == run
    with pytest.raises(PrepareError, match="root folder"):
        publish.check_output_dir(Path("/"))
