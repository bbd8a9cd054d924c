"""The darkness statistics measure what they say, and the benchmark compares two folders of real mp4s."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import darkness


def _clip(value: float, frames: int = 6, size: int = 32) -> np.ndarray:
    return np.full((frames, size, size, 3), round(255 * value), dtype=np.uint8)


def test_a_flat_black_still_clip():
    stats = darkness.clip_statistics(_clip(0.0))
    assert stats["below_0.02"] == 1.0 and stats["above_0.5"] == 0.0
    assert stats["luma_sd"] == 0.0 and stats["temporal_noise"] == 0.0 and stats["chroma_sd"] == 0.0


def test_noise_only_in_moving_pixels_is_not_still_noise():
    rng = np.random.default_rng(0)
    video = _clip(0.1).astype(np.int16)
    video[:, :, 16:] += rng.integers(-20, 21, size=video[:, :, 16:].shape, dtype=np.int16)  # half flickers
    stats = darkness.clip_statistics(np.clip(video, 0, 255).astype(np.uint8))
    assert stats["temporal_noise"] < 1e-6  # the calmest 30 % are all in the steady half
    video[:, :, :16] += rng.integers(-3, 4, size=video[:, :, :16].shape, dtype=np.int16)  # now a little noise
    assert 0.002 < darkness.clip_statistics(np.clip(video, 0, 255).astype(np.uint8))["temporal_noise"] < 0.02


def test_blockiness_sees_an_8_pixel_grid_and_colour_casts_show():
    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 60, size=(4, 4, 4), dtype=np.uint8).repeat(8, axis=1).repeat(8, axis=2)
    video = np.repeat(blocks[..., None], 3, axis=3)
    assert darkness.clip_statistics(video)["blockiness"] > 10
    smooth = np.repeat(np.linspace(0, 60, 32, dtype=np.uint8)[None, None, :, None], 32, axis=1)
    assert darkness.clip_statistics(np.repeat(np.repeat(smooth, 4, axis=0), 3, axis=3))["blockiness"] == \
        pytest.approx(1.0, abs=0.2)
    orange = _clip(0.1)
    orange[..., 2] //= 4
    assert darkness.clip_statistics(orange)["blue_red"] == pytest.approx(0.24, abs=0.02)


def test_the_benchmark_compares_two_folders_side_by_side(tiny_root, tmp_path, capsys):
    out, figure = tmp_path / "darkness.json", tmp_path / "darkness.png"
    # The generated set against itself: every statistic is equal, so within the tolerance.
    results = darkness.main(["--real", str(tiny_root), "--generated", str(tiny_root), "--frames", "8",
                             "--out", str(out), "--figure", str(figure)])
    written = json.loads(out.read_text())
    assert written["clips"]["real"] == written["clips"]["generated"] > 0 and figure.stat().st_size > 10_000
    assert set(written["statistics"]) == set(darkness.STATISTICS)
    compared = results["statistics"].values()
    assert all(s["ratio"] == pytest.approx(1.0) and s["within_tolerance"] for s in compared)
    assert "| luma_mean |" in capsys.readouterr().out and "provenance" in written


def test_a_folder_without_videos_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        darkness.main(["--real", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--real" in err and "no videos" in err and str(tmp_path) in err
