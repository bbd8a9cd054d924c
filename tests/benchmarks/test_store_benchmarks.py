"""Smoke tests of the loader benchmark at the ARID preset and of the prepared GPU check (CPU plumbing)."""

from __future__ import annotations

import pytest

from benchmarks import gpu_check, loader


def test_loader_benchmark_at_the_arid_preset(tmp_path):
    results = loader.main(["--preset", "arid", "--classes", "2", "--videos_per_class", "2", "--seconds", "1",
                           "--epochs", "2", "--out", str(tmp_path / "loader.json")])
    assert (results["clip_len"], results["frame_stride"], results["frame_size"]) == (32, 2, (128, 170))
    assert results["videos"] == 4 and (tmp_path / "loader.json").is_file()
    # 30 frames at 170x128: the store holds every frame of every video.
    assert results["store"]["bytes"] == 4 * (30 * 128 * 170 * 3 + 128)
    gpu = results["gpu_estimate"]
    assert 250 < gpu["forward_gflops_per_clip"] < 350  # R(2+1)D-34 at 32x112^2
    assert gpu["train"]["clips_per_s"] > gpu["distill"]["clips_per_s"]
    assert gpu["train"]["cores_decoding"] == pytest.approx(
        gpu["train"]["clips_per_s"] / results["decode_workers_1"]["clips_per_s"])


@pytest.mark.slow
def test_gpu_check_runs_its_four_fits(tmp_path):
    results = gpu_check.main(["--smoke", "--videos_per_class", "1", "--seconds", "0.5", "--steps", "4",
                              "--warmup", "0", "--workdir", str(tmp_path)])
    assert list(results["runs"]) == ["teacher_decode", "teacher_store", "distill_decode", "distill_store"]
    assert all(r["steps"] >= 1 and 0 <= r["data_wait_mean"] <= 1 for r in results["runs"].values())
    assert any((tmp_path / "clip_store").rglob("*.npy"))
