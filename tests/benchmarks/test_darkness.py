"""The darkness statistics measure what they say, the benchmark compares two folders of real mp4s, and the
generator's default dark set is calibrated to real dark clips."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from benchmarks import darkness
from dlkdd.synthetic.dataset import SyntheticConfig, degrade_low_light, generate_dataset, render_clean_video
from dlkdd.video import list_videos


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


def test_the_night_camera_crushes_black_lights_lamps_and_leaves_little_cast():
    """What the calibration added, in the benchmark's own statistics, on ten captures of one scene (not
    encoded): crushed black is large in some, light sources (pixels above 0.5) in some and not in others,
    the white balance leaves blue / red near 1, and the level stays dark."""
    clean = render_clean_video(0, np.random.default_rng(0), SyntheticConfig(num_frames=8))
    stats = [darkness.clip_statistics(degrade_low_light(clean, np.random.default_rng(seed), color_cast=True))
             for seed in range(10)]
    crushed, lit = [s["below_0.02"] for s in stats], [s["above_0.5"] for s in stats]
    assert max(crushed) > 0.2 and min(crushed) < 0.05, crushed
    assert 2 <= sum(value > 0.001 for value in lit) <= 8, lit
    assert all(0.85 < s["blue_red"] < 1.15 and 0.03 < s["luma_mean"] < 0.12 for s in stats), stats


def _summaries(paths: list, frames: int) -> dict[str, dict[str, float]]:
    return {name: darkness.summary(v) for name, v in darkness.clips_statistics(paths, frames).items()}


def test_the_default_dark_set_is_within_tolerance_of_real_clips(arid6, tmp_path):
    """Issue 33's criterion (each statistic's mean within 25 %, 10-90 % ranges overlapping) on samples:
    every third real ARID-6 clip, and the default dark set's first 5 training clips per class. Samples of
    50 clips move some statistics by 10-20 % (the test split's first 5 per class are at 1.23 for the
    median and the still-pixel noise); the benchmark measures all 150 and all 500
    (benchmarks/results/darkness.json: within 16 % on every statistic)."""
    real = _summaries(list_videos(arid6)[::3], darkness.FRAMES)
    config = replace(SyntheticConfig(), train_per_class=5, val_per_class=0, test_per_class=0)
    generated = _summaries(list_videos(generate_dataset(tmp_path / "dark", config)), darkness.FRAMES)
    compared = {name: darkness.compare(real[name], generated[name]) for name in darkness.STATISTICS}
    assert all(c["within_tolerance"] for c in compared.values()), {
        name: (c, real[name], generated[name]) for name, c in compared.items() if not c["within_tolerance"]}
