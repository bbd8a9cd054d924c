"""Tests of the synthetic dark-video generator, on real mp4 files written to tmp_path."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from dlkdd.synthetic.dataset import (
    BRIGHT_CLASS_NAMES,
    CLASS_NAMES,
    SPLITS,
    SyntheticConfig,
    degrade_low_light,
    generate_dataset,
    is_generated,
    render_clean_video,
    split_list_path,
)

SMALL = SyntheticConfig(
    train_per_class=1, val_per_class=1, test_per_class=1, num_frames=16, height=48, width=64, workers=1
)


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def decode_all(root: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(root)): decode(p) for p in sorted(root.glob("*/*.mp4"))}


def read_split(root: Path, split: str) -> list[tuple[int, int, str]]:
    rows = [line.split("\t") for line in split_list_path(root, split).read_text().splitlines()]
    return [(int(idx), int(label), path) for idx, label, path in rows]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synthetic") / "data", SMALL)


def test_generation_is_deterministic_and_independent_of_workers(dataset: Path, tmp_path: Path) -> None:
    again = generate_dataset(tmp_path / "again", replace(SMALL, workers=2))
    first, second = decode_all(dataset), decode_all(again)
    assert len(first) == 3 * len(CLASS_NAMES)
    assert first.keys() == second.keys()
    for name, frames in first.items():
        np.testing.assert_array_equal(frames, second[name], err_msg=name)


def test_other_seed_gives_other_videos(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = generate_dataset(tmp_path / "other", replace(SMALL, seed=1), progress=True)
    assert "synthetic videos" in capsys.readouterr().err
    first, second = decode_all(dataset), decode_all(other)
    assert all(not np.array_equal(first[name], second[name]) for name in first)


def test_videos_have_declared_size_and_are_dark(dataset: Path) -> None:
    for name, frames in decode_all(dataset).items():
        assert frames.shape == (SMALL.num_frames, SMALL.height, SMALL.width, 3), name
        assert 0.01 < frames.mean() / 255 < 0.15, name
    with av.open(str(next(dataset.glob("*/*.mp4")))) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == SMALL.fps


def test_split_lists_follow_arid_format(dataset: Path) -> None:
    for split in SPLITS:
        path = split_list_path(dataset, split)
        assert path == dataset / "splits" / f"synthetic_split1_{split}.txt"
        rows = read_split(dataset, split)
        assert [idx for idx, _, _ in rows] == list(range(len(CLASS_NAMES) * SMALL.per_class(split)))
        assert sorted(label for _, label, _ in rows) == list(range(len(CLASS_NAMES)))
        for _, label, relpath in rows:
            assert relpath.startswith(f"{CLASS_NAMES[label]}/") and relpath.endswith(f"_{split}_0000.mp4")
            assert (dataset / relpath).is_file()
    with pytest.raises(ValueError):
        split_list_path(dataset, "training")


def test_is_generated_tracks_the_config(dataset: Path, tmp_path: Path) -> None:
    assert not is_generated(tmp_path / "missing", SMALL)
    assert is_generated(dataset, SMALL)
    assert is_generated(dataset, replace(SMALL, workers=4))
    assert not is_generated(dataset, replace(SMALL, num_frames=8))
    assert "workers" not in json.loads((dataset / ".synthetic.json").read_text())


def test_anchor_frame_is_identical_for_all_classes() -> None:
    """A single frame cannot tell classes apart: the same scene draws give the same anchor frame."""
    config = SyntheticConfig(num_frames=16)
    anchor = config.num_frames // 2
    for seed in range(2):
        videos = [
            render_clean_video(label, np.random.default_rng(seed), config)
            for label in range(len(CLASS_NAMES))
        ]
        for video in videos:
            assert video.dtype == np.float32 and video.shape == (16, 96, 128, 3)
            assert video.min() >= 0.0 and video.max() <= 1.0
            np.testing.assert_array_equal(video[anchor], videos[0][anchor])
        later = [video[anchor + 3] for video in videos]
        assert all(not np.array_equal(a, b) for i, a in enumerate(later) for b in later[i + 1 :])


def _centroid_track(moving: np.ndarray, still: np.ndarray, axis: int, start: int) -> np.ndarray:
    """Centroid (px, along axis 0 = y or 1 = x) of where `moving` differs from `still`, per frame.

    Both clips share background, distractors and camera shake, so they differ only around the moving
    object and its anchor position. Objects wrap around the frame, hence a circular mean, unwrapped.
    """
    size = moving.shape[1 + axis]
    phases = np.exp(2j * np.pi * np.arange(size) / size)
    angles = []
    for t in range(start, len(moving)):
        changed = np.abs(moving[t] - still[t]).max(axis=-1) > 0.02
        angles.append(np.angle(np.sum(changed.sum(axis=1 - axis) * phases)))
    return np.unwrap(angles) * size / (2 * np.pi)


@pytest.mark.parametrize(
    ("name", "axis", "sign"),
    [("move_right", 1, 1), ("move_left", 1, -1), ("move_down", 0, 1), ("move_up", 0, -1)],
)
def test_linear_motion_shifts_the_object_steadily(name: str, axis: int, sign: int) -> None:
    config = SyntheticConfig(num_frames=16)
    anchor = config.num_frames // 2
    for seed in range(4):
        moving = render_clean_video(CLASS_NAMES.index(name), np.random.default_rng(seed), config)
        still = render_clean_video(CLASS_NAMES.index("stay"), np.random.default_rng(seed), config)
        track = _centroid_track(moving, still, axis, anchor + 1)
        slope = np.polyfit(np.arange(len(track)), track, 1)[0]
        assert sign * slope > 0.3, (name, seed, slope)  # the union's centroid moves at half the speed


def test_degradation_is_dark_but_keeps_the_action() -> None:
    """The night relights the scene (falloff, lamps, crushed black), so the dark clip no longer looks like
    the clean render; but the action shows through: two classes of one scene, degraded with the same
    camera draws, differ where their clean renders differ."""
    config = SyntheticConfig(num_frames=8)

    def blocks(video: np.ndarray) -> np.ndarray:  # shot noise dominates single pixels: 4x4 block means
        return video.astype(np.float32).reshape(8, 24, 4, 32, 4, 3).mean(axis=(2, 4, 5))

    shown = []
    for seed in range(6):
        moving, still = (render_clean_video(CLASS_NAMES.index(name), np.random.default_rng(seed), config)
                         for name in ("move_right", "stay"))
        dark_moving, dark_still = (degrade_low_light(clean, np.random.default_rng([seed, 1]), color_cast=True)
                                   for clean in (moving, still))
        assert dark_moving.dtype == np.uint8 and dark_moving.shape == moving.shape
        assert 0.02 < dark_moving.mean() / 255 < 0.12
        difference = blocks(dark_moving) - blocks(dark_still)
        shown.append(np.corrcoef(difference.ravel(), (blocks(moving) - blocks(still)).ravel())[0, 1])
    assert min(shown) > 0.4 and np.mean(shown) > 0.6, shown


def test_color_cast_can_be_disabled() -> None:
    """Gray clean input must stay gray on average without casts, and turn tinted on some videos with."""
    gray = np.full((4, 32, 32, 3), 0.5, dtype=np.float32)

    def channel_spread(color_cast: bool, seed: int) -> float:
        means = degrade_low_light(gray, np.random.default_rng(seed), color_cast).mean(axis=(0, 1, 2))
        return float(np.ptp(means) / means.mean())

    assert max(channel_spread(False, seed) for seed in range(8)) < 0.05
    # The camera's white balance leaves 15-50 % of the light's cast (real night footage is nearly grey).
    assert max(channel_spread(True, seed) for seed in range(8)) > 0.08


@pytest.fixture(scope="module")
def bright(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("bright") / "data", SMALL, corpus="bright")


def test_bright_corpus_is_its_own_well_lit_vocabulary(bright: Path, dataset: Path, tmp_path: Path) -> None:
    assert not set(BRIGHT_CLASS_NAMES) & set(CLASS_NAMES) and len(BRIGHT_CLASS_NAMES) > len(CLASS_NAMES)
    videos = decode_all(bright)
    assert len(videos) == 3 * len(BRIGHT_CLASS_NAMES)
    assert {name.split("/")[0] for name in videos} == set(BRIGHT_CLASS_NAMES)
    for name, frames in videos.items():
        assert frames.shape == (SMALL.num_frames, SMALL.height, SMALL.width, 3), name
        assert 0.3 < frames.mean() / 255 < 0.7, name  # well lit, where the dark set sits below 0.15
    labels = {label for _, label, _ in read_split(bright, "train")}
    assert labels == set(range(len(BRIGHT_CLASS_NAMES)))
    # Deterministic, and the marker tells the corpora apart: neither root passes for the other.
    again = decode_all(generate_dataset(tmp_path / "again", replace(SMALL, workers=2), corpus="bright"))
    assert all(np.array_equal(videos[name], again[name]) for name in videos)
    assert is_generated(bright, SMALL, "bright") and not is_generated(bright, SMALL)
    assert not is_generated(dataset, SMALL, "bright")
    # The darkness options do not apply to the bright corpus, so they do not invalidate it.
    assert is_generated(bright, replace(SMALL, exposure=(0.01, 0.02)), "bright")
    with pytest.raises(ValueError, match="corpus"):
        generate_dataset(tmp_path / "x", SMALL, corpus="dim")


@pytest.mark.parametrize("name", ["move_up_left", "move_down_right", "zigzag", "spin_and_move"])
def test_bright_motions_move_the_object(name: str) -> None:
    """The anchor frame is shared by every bright class, and the motion moves the object away from it."""
    config = SyntheticConfig(num_frames=16)
    anchor = config.num_frames // 2
    label = BRIGHT_CLASS_NAMES.index(name)
    for seed in range(2):
        video = render_clean_video(label, np.random.default_rng(seed), config, corpus="bright")
        pulse = render_clean_video(BRIGHT_CLASS_NAMES.index("pulse"), np.random.default_rng(seed), config,
                                   corpus="bright")
        np.testing.assert_array_equal(video[anchor], pulse[anchor])
        assert np.abs(video[-1] - video[anchor]).max() > 0.2


def test_less_light_means_more_noise_at_the_same_brightness() -> None:
    """Exposure is how few photons arrive: the auto gain keeps the brightness and amplifies the noise."""
    # A still scene: from frame to frame only the noise changes.
    first = render_clean_video(0, np.random.default_rng(0), SyntheticConfig(num_frames=2))[:1]
    clean = np.repeat(first, 4, axis=0)

    def noise(exposure: float, read_noise: float) -> tuple[float, float]:
        # One seed: the same night and camera (lights, gain, black level, tone curve), other photon counts.
        a = degrade_low_light(clean, np.random.default_rng(1), False, (exposure, exposure),
                              (read_noise, read_noise)).astype(np.float32)
        return float(np.abs(np.diff(a, axis=0)).mean() / a.mean()), float(a.mean())

    bright_noise, bright_level = noise(0.08, 1.5)
    dark_noise, dark_level = noise(0.008, 1.5)
    assert dark_noise > 2 * bright_noise and abs(dark_level - bright_level) < 0.3 * bright_level
    assert noise(0.008, 20.0)[0] > 1.3 * dark_noise  # read noise adds to it
    with pytest.raises(ValueError, match="exposure"):
        SyntheticConfig(exposure=(0.1, 0.01))


def test_is_generated_tracks_the_darkness(dataset: Path) -> None:
    assert json.loads((dataset / ".synthetic.json").read_text())["exposure"] == list(SMALL.exposure)
    assert not is_generated(dataset, replace(SMALL, exposure=(0.01, 0.027)))
    assert not is_generated(dataset, replace(SMALL, read_noise=(1.5, 9.0)))
