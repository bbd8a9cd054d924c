"""`dlkdd watch FOLDER` as an archive job: shared out over torch.distributed ranks (a real 2-process
torchrun), the same files as one process, resumable, recordings named by their path in the folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from dlkdd.watch.archive import Share
from dlkdd.watch.command import main as watch_main
from tests.conftest import REPO, one_step_checkpoint
from tests.watch.test_watch import write_video


@pytest.fixture(scope="module")
def student(tiny_root, tmp_path_factory) -> Path:
    return one_step_checkpoint("synthetic/baseline.yaml", tiny_root, tmp_path_factory.mktemp("archive-ckpt"))


@pytest.fixture
def archive(tmp_path) -> Path:
    """Two cameras whose recordings share file names, and one more: frames of different lengths."""
    for name, frames in (("cam1/0101", 40), ("cam2/0101", 25), ("cam2/0102", 30), ("0103", 20)):
        (tmp_path / "archive" / name).parent.mkdir(parents=True, exist_ok=True)
        write_video(tmp_path / "archive" / f"{name}.mp4", list(range(frames)), Fraction(1, 15), rate=15)
    return tmp_path / "archive"


def outputs(folder: Path) -> dict[str, bytes]:
    """Every file watch wrote, by path; a summary without its timings (wall time differs run to run)."""
    files = {}
    for path in sorted(folder.rglob("*.*")):
        data = path.read_bytes()
        if path.name.endswith(".summary.json"):
            record = json.loads(data)
            data = json.dumps({k: v for k, v in record.items()
                               if k not in ("wall_seconds", "latency", "realtime_factor")}).encode()
        files[str(path.relative_to(folder))] = data
    return files


def test_the_share_is_by_size_and_the_same_on_every_rank(archive):
    recordings = sorted(archive.rglob("*.mp4"))
    shares = [Share(rank, 2).of(recordings) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == recordings and not set(shares[0]) & set(shares[1])
    assert all(share for share in shares)
    assert Share().of(recordings) == recordings


def test_two_processes_write_the_same_files_as_one_and_a_rerun_skips_them(archive, student, tmp_path,
                                                                          capsys):
    args = ["--ckpt_path", str(student), "--timeline", "jsonl", "--hop", "3f"]
    one = watch_main([str(archive), "--output_dir", str(tmp_path / "one"), *args])
    assert sorted(s.frames for s in one) == [20, 25, 30, 40]
    written = outputs(tmp_path / "one")
    # Same file names in two cameras' folders stay apart.
    assert {"cam1/0101.timeline.jsonl", "cam2/0101.timeline.jsonl", "0103.summary.json"} <= written.keys()

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                          "2", "-m", "dlkdd", "watch", str(archive), "--output_dir", str(tmp_path / "two"),
                          *args], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "4 recordings watched, 0 already complete and skipped, by 2 processes" in run.stderr
    assert outputs(tmp_path / "two") == written

    # A rerun skips every complete recording; a recording without its summary (cut short) is redone.
    (tmp_path / "one" / "cam2/0102.summary.json").unlink()
    capsys.readouterr()
    again = watch_main([str(archive), "--output_dir", str(tmp_path / "one"), *args])
    assert [s.source for s in again] == [str(archive / "cam2/0102.mp4")]
    assert "1 recordings watched, 3 already complete and skipped" in capsys.readouterr().err
    assert outputs(tmp_path / "one") == written
    # Other settings are another job: everything is watched again.
    assert len(watch_main([str(archive), "--output_dir", str(tmp_path / "one"), *args[:-1], "4f"])) == 4


@pytest.mark.slow
def test_the_archive_benchmark_runs_at_its_smallest(student, tmp_path):
    from benchmarks import watch_archive

    results = watch_archive.main(["--ckpt_path", str(student), "--recordings", "2", "--duration", "2",
                                  "--rounds", "1", "--workdir", str(tmp_path),
                                  "--out", str(tmp_path / "a.json")])
    assert results["same_timelines"] and set(results["processes"]) == {1, 2}
    assert json.loads((tmp_path / "a.json").read_text())["processes"]["2"]["wall_seconds"] > 0
