"""Synthetic dark-video action dataset, written as real H.264 mp4 files in the ARID v1.0 layout.

Every class is defined by the *motion* of one textured object only. Everything a single frame shows
(object shape, texture and colour, its position, angle and size at the anchor frame, background,
lighting, distractors, camera shake) is drawn from one class-independent distribution, and all random
draws happen in the same order for every class. So, for the same random generator, all classes
render the very same anchor frame (the middle one) and differ only in how the object moves around it.

The clean frames are linear scene radiance in [0, 1]; `degrade_low_light` turns them into what a
night camera records (night light with lamps and lit windows, few photons, shot and read noise,
auto-gain, black level and tone curve, noise reduction, what white balance leaves of a colour cast,
8 bit), its ranges (`NIGHT`) calibrated to real dark footage (ARID v1.0; benchmarks/darkness.py). How
little light (`exposure`) and how noisy the readout (`read_noise`) are options of the config.

Two corpora come from the same machinery (sprites, backgrounds, lighting, distractors, camera shake):
- "dark" (`CLASS_NAMES`): the target dataset, degraded to night-time video;
- "bright" (`BRIGHT_CLASS_NAMES`): the pretraining corpus, the "Kinetics" of this generated world:
  other motions, well lit and clean (8-bit sRGB of the clean frames, no sensor noise), and larger.

With `background_ratio`, the dark set also holds the reserved `background` class: empty night scenes,
most with one of the night's usual false alarms (`DISTRACTORS`, shared with dlkdd.synthetic.recordings).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dlkdd.video import write_video

PathLike = str | os.PathLike[str]

CLASS_NAMES: tuple[str, ...] = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_cw",
    "rotate_ccw",
    "approach",
    "recede",
    "oscillate",
    "stay",
)
# The bright pretraining corpus: its own action vocabulary, none of it a dark class, but built from the
# same kinds of motion (travel, turning, size change, periodic paths), as Kinetics is to ARID.
BRIGHT_CLASS_NAMES: tuple[str, ...] = (
    "move_up_left",
    "move_up_right",
    "move_down_left",
    "move_down_right",
    "zigzag",
    "bounce",
    "speed_up",
    "slow_down",
    "spin_and_move",
    "pulse",
    "circle_cw",
    "circle_ccw",
)
CORPORA: dict[str, tuple[str, ...]] = {"dark": CLASS_NAMES, "bright": BRIGHT_CLASS_NAMES}
SPLITS: tuple[str, ...] = ("train", "val", "test")
MARKER_NAME = ".synthetic.json"
# The reserved no-action class (dlkdd.data.sources.background_index): with `background_ratio`, the dark set
# gains a folder of it, labelled after the actions (label len(CLASS_NAMES)).
BACKGROUND = "background"
# The night's usual false alarms, none of them an action: drawn into the gaps of the long recordings
# (dlkdd.synthetic.recordings) and into the dark set's background clips.
DISTRACTORS: tuple[str, ...] = ("headlights", "light_switch", "noise_burst", "shake")
# Seconds between incidents in a watched night (benchmarks/events.py's recordings): a distractor in a
# background clip plays out over a gap this long, as it does in the recordings.
GAP_SECONDS: tuple[float, float] = (3.0, 12.0)

# Unit vectors in image coordinates (x to the right, y downwards).
_DIRECTIONS: dict[str, tuple[float, float]] = {
    "move_left": (-1.0, 0.0),
    "move_right": (1.0, 0.0),
    "move_up": (0.0, -1.0),
    "move_down": (0.0, 1.0),
    "move_up_left": (-0.5**0.5, -(0.5**0.5)),
    "move_up_right": (0.5**0.5, -(0.5**0.5)),
    "move_down_left": (-(0.5**0.5), 0.5**0.5),
    "move_down_right": (0.5**0.5, 0.5**0.5),
}

# Per-channel illuminant gains of typical night light sources, applied to linear radiance.
_COLOR_CASTS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.62, 0.22),  # low-pressure sodium street light: deep orange
    (0.55, 0.75, 1.0),  # moonlight / blue hour
    (1.0, 0.8, 0.55),  # tungsten bulb
    (0.7, 1.0, 0.75),  # old fluorescent tube: greenish
)


@dataclass(frozen=True)
class _NightCamera:
    """Ranges (low, high), drawn uniformly per video, of the night camera in `degrade_low_light` and
    `_night_light`, calibrated so that the default dark set's statistics fall within tolerance of real
    dark footage (ARID v1.0; benchmarks/darkness.py, docs/guides/real-footage.md)."""

    level: tuple[float, float] = (0.003, 0.01)  # linear mean level the auto gain meters to
    black: tuple[float, float] = (0.3, 0.8)  # black level, as a fraction of the metered level
    gamma: tuple[float, float] = (1.8, 2.4)  # tone curve: output = linear ** (1 / gamma)
    pedestal: tuple[float, float] = (0.005, 0.018)  # output level of black
    saturation: tuple[float, float] = (0.35, 0.8)  # colour kept after low-light desaturation
    denoise: tuple[float, float] = (0.4, 0.9)  # luma noise reduction: weight of a 3x3 blur
    cast_left: tuple[float, float] = (0.15, 0.5)  # share of the light's colour cast white balance leaves
    falloff_floor: tuple[float, float] = (0.1, 0.5)  # night light far from its centre, relative to the centre
    lit_scenes: float = 0.5  # share of scenes with light sources in view
    lamp_power: tuple[float, float] = (80.0, 400.0)  # a lamp's peak radiance / the scene's mean radiance
    window_power: tuple[float, float] = (15.0, 60.0)  # a lit window's radiance / the scene's mean radiance


NIGHT = _NightCamera()

# The motion magnitudes below are in pixels at the reference height of 96 and scale with the frame.
_REFERENCE_SIZE = 96.0


@dataclass
class SyntheticConfig:
    """Size and content of a synthetic dataset; every field except `workers` defines the data."""

    train_per_class: int = 24
    val_per_class: int = 6
    test_per_class: int = 20  # 200 test videos: one video is 0.5 points of top-1
    num_frames: int = 32
    height: int = 96  # even, as yuv420p needs
    width: int = 128  # even, as yuv420p needs
    fps: int = 15
    seed: int = 0  # non-negative: it seeds numpy's SeedSequence
    color_cast: bool = True
    # Dark corpus only: the fraction of full-scale charge an exposure collects, drawn log-uniformly per
    # video from this range (divide both by 3 for a scene 3x darker), and the read noise in electrons RMS,
    # drawn uniformly. Less light means fewer photons: the auto gain keeps the brightness, the noise grows.
    exposure: tuple[float, float] = (0.03, 0.08)
    read_noise: tuple[float, float] = (1.0, 3.0)
    # Dark corpus only: background clips (an empty scene; in 4 of 5 one of DISTRACTORS) per split, as a
    # multiple of one action class's count (1.0: as many as each action). 0: none, the classes are the
    # actions only.
    background_ratio: float = 0.0
    workers: int = 2  # processes used to generate; 1 = in-process

    def __post_init__(self) -> None:
        self.exposure, self.read_noise = tuple(self.exposure), tuple(self.read_noise)
        if len(self.exposure) != 2 or not 0 < self.exposure[0] <= self.exposure[1] <= 1:
            raise ValueError(f"exposure: need [low, high] with 0 < low <= high <= 1, got {self.exposure}")
        if len(self.read_noise) != 2 or not 0 <= self.read_noise[0] <= self.read_noise[1]:
            raise ValueError(f"read_noise: need [low, high] with 0 <= low <= high, got {self.read_noise}")
        if self.height % 2 or self.width % 2 or self.height < 16 or self.width < 16:
            raise ValueError(f"height and width must be even and >= 16, got {self.height}x{self.width}")
        if min(self.train_per_class, self.val_per_class, self.test_per_class) < 0:
            raise ValueError("videos per class must be >= 0")
        if self.background_ratio < 0:
            raise ValueError(f"background_ratio must be >= 0, got {self.background_ratio}")
        if self.num_frames < 2 or self.fps < 1 or self.workers < 1 or self.seed < 0:
            raise ValueError("need num_frames >= 2, fps >= 1, workers >= 1 and seed >= 0")

    def per_class(self, split: str) -> int:
        return {"train": self.train_per_class, "val": self.val_per_class, "test": self.test_per_class}[split]

    def background_clips(self, split: str) -> int:
        return round(self.background_ratio * self.per_class(split))


def dark_class_names(background: bool) -> tuple[str, ...]:
    """The dark set's classes: the actions, then the reserved background class when it has one."""
    return (*CLASS_NAMES, BACKGROUND) if background else CLASS_NAMES


# ---------------------------------------------------------------------------------------------------
# Procedural objects: a sprite maps local coordinates (u, v), with the shape inside radius ~1, to
# colour and coverage. Rendering inverse-maps pixels into that frame, so rotation and scaling are exact
# and the edge can be anti-aliased from a signed distance.
# ---------------------------------------------------------------------------------------------------

# A scalar function of local object coordinates (u, v).
_Field = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _Sprite:
    """A textured, deliberately asymmetric object so that its rotation sense is visible."""

    signed_distance: _Field  # < 0 inside, in local units
    extent: float  # radius that contains the whole shape, in local units
    pattern: _Field  # texture mixing weight in [0, 1]
    colors: np.ndarray  # (2, 3): the pattern's two colours
    marker: tuple[float, float, float]  # off-centre disc (u, v, radius) that breaks any symmetry
    marker_color: np.ndarray  # (3,)

    def __call__(self, u: np.ndarray, v: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Colour (..., 3) and alpha (...) at local coordinates; `scale` is pixels per local unit."""
        weight = self.pattern(u, v)[..., None]
        color = self.colors[0] * (1.0 - weight) + self.colors[1] * weight
        mu, mv, mr = self.marker
        in_marker = _coverage((np.hypot(u - mu, v - mv) - mr) * scale)[..., None]
        color = color * (1.0 - in_marker) + self.marker_color * in_marker
        return color, _coverage(self.signed_distance(u, v) * scale)


def _coverage(distance_px: np.ndarray) -> np.ndarray:
    """Soft edge one pixel wide: the fraction of a pixel covered at this signed distance."""
    return np.clip(0.5 - distance_px, 0.0, 1.0)


def _random_shape(rng: np.random.Generator) -> tuple[_Field, float]:
    kind = rng.integers(3)
    if kind == 0:  # ellipse
        aspect = rng.uniform(0.45, 0.8)
        # Radial residual scaled by the minor axis: a distance estimate good enough for a 1 px edge.
        return lambda u, v: (np.hypot(u, v / aspect) - 1.0) * aspect, 1.0
    if kind == 1:  # irregular convex polygon with 3-5 corners
        n = int(rng.integers(3, 6))
        angles = np.sort(2 * np.pi * (np.arange(n) + rng.uniform(-0.3, 0.3, n)) / n)
        corners = rng.uniform(0.75, 1.0, n)[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)
        edges = np.roll(corners, -1, axis=0) - corners
        normals = np.stack([edges[:, 1], -edges[:, 0]], 1) / np.linalg.norm(edges, axis=1, keepdims=True)
        offsets = np.sum(normals * corners, axis=1)

        def polygon(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            return np.max(u[..., None] * normals[:, 0] + v[..., None] * normals[:, 1] - offsets, axis=-1)

        return polygon, 1.0
    # blob: radius wobbles with the polar angle through a few random low harmonics
    amps = rng.uniform(0.05, 0.18, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)

    def blob(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        theta = np.arctan2(v, u)[..., None]
        radius = 0.8 + np.sum(amps * np.cos(np.arange(1, 4) * theta + phases), axis=-1)
        return np.hypot(u, v) - radius

    return blob, 0.8 + float(amps.sum())


def _random_pattern(rng: np.random.Generator) -> _Field:
    kind = rng.integers(3)
    freq = np.pi * rng.uniform(1.5, 3.5)  # 1.5-3.5 cycles across the object
    ori = rng.uniform(0, np.pi)
    c, s = np.cos(ori), np.sin(ori)
    phase = rng.uniform(0, 2 * np.pi)
    sharpness = rng.uniform(1.0, 4.0)
    if kind == 0:  # stripes

        def stripes(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            return 0.5 + 0.5 * np.tanh(sharpness * np.sin(freq * (c * u + s * v) + phase))

        return stripes
    if kind == 1:  # checker

        def checker(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            grid = np.sin(freq * (c * u + s * v) + phase) * np.sin(freq * (c * v - s * u))
            return 0.5 + 0.5 * np.tanh(2 * sharpness * grid)

        return checker
    # rings around an off-centre point
    cu, cv = rng.uniform(-0.6, 0.6, 2)

    def rings(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return 0.5 + 0.5 * np.tanh(sharpness * np.sin(freq * np.hypot(u - cu, v - cv) + phase))

    return rings


def _random_sprite(rng: np.random.Generator) -> _Sprite:
    shape, extent = _random_shape(rng)
    pattern = _random_pattern(rng)
    # One light and one dark colour: strong inner contrast keeps the texture (and so rotation) visible.
    colors = np.stack([rng.uniform(0.45, 1.0, 3), rng.uniform(0.03, 0.35, 3)]).astype(np.float32)
    marker_angle = rng.uniform(0, 2 * np.pi)
    marker_dist = rng.uniform(0.3, 0.5)
    marker = (marker_dist * np.cos(marker_angle), marker_dist * np.sin(marker_angle), rng.uniform(0.2, 0.3))
    marker_color = rng.uniform(0.0, 1.0, 3).astype(np.float32)
    return _Sprite(shape, extent, pattern, colors, marker, marker_color)


def _paint(frame: np.ndarray, sprite: _Sprite, x: float, y: float, angle: float, scale: float) -> None:
    """Alpha-composite `sprite` into `frame` in place, wrapping around the frame edges (a torus).

    Wrapping keeps the object in view without tying its position to its direction of motion.
    """
    height, width = frame.shape[:2]
    reach = sprite.extent * scale + 1.0
    x, y = x % width, y % height
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    for cy in (y - height, y, y + height):
        for cx in (x - width, x, x + width):
            x0, x1 = max(0, int(cx - reach)), min(width, int(cx + reach) + 2)
            y0, y1 = max(0, int(cy - reach)), min(height, int(cy + reach) + 2)
            if x0 >= x1 or y0 >= y1:
                continue
            dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
            dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
            # Inverse of pixel = centre + scale * R(angle) @ (u, v); angle grows clockwise on screen.
            u = (cos_a * dx + sin_a * dy) / scale
            v = (cos_a * dy - sin_a * dx) / scale
            color, alpha = sprite(u, v, scale)
            region = frame[y0:y1, x0:x1]
            region += (color - region) * alpha[..., None]


# ---------------------------------------------------------------------------------------------------
# Scene: background, lighting, camera shake, distractors and the class-specific motion.
# ---------------------------------------------------------------------------------------------------


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Textured reflectance: 1/f random Fourier series (smooth noise), sometimes times a checker."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    n = 10
    wavelength = rng.uniform(6.0, 60.0, n)[:, None, None]
    ori = rng.uniform(0, np.pi, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    waves = np.sin(2 * np.pi * (np.cos(ori) * xx + np.sin(ori) * yy) / wavelength + phase)
    # Amplitude proportional to wavelength gives the 1/f spectrum of natural textures.
    field = np.sum(waves * wavelength * rng.uniform(0.5, 1.0, n)[:, None, None], axis=0)
    if rng.random() < 0.5:
        cell = rng.uniform(6.0, 16.0)
        field += 0.8 * np.abs(field).mean() * np.sign(np.sin(np.pi * xx / cell) * np.sin(np.pi * yy / cell))
    weight = ((field - field.min()) / (np.ptp(field) + 1e-6))[..., None]
    low, high = rng.uniform(0.03, 0.5, (2, 3)).astype(np.float32)
    return (low * (1 - weight) + high * weight).astype(np.float32)


def _illumination(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Ambient light plus one soft pool of light (a lamp), so brightness varies across the scene."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ambient = rng.uniform(0.35, 0.6)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    sigma = rng.uniform(0.3, 0.7) * max(height, width)
    pool = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    return (ambient + (1.0 - ambient) * pool)[..., None].astype(np.float32)


@dataclass(frozen=True)
class _Motion:
    """Motion magnitudes drawn for every video, whatever its class, to keep the rng stream aligned."""

    speed: float  # px / frame, for the move_* classes
    spin: float  # rad / frame, for rotate_*
    zoom: float  # log scale / frame, for approach / recede
    osc_amplitude: float  # px
    osc_period: float  # frames: short, so any 8-16 frame clip sees a full back-and-forth
    osc_axis: float  # rad

    @classmethod
    def sample(cls, rng: np.random.Generator, unit: float) -> _Motion:
        return cls(
            speed=rng.uniform(1.2, 2.2) * unit,
            spin=np.deg2rad(rng.uniform(5.0, 12.0)),
            zoom=rng.uniform(0.02, 0.03),
            osc_amplitude=rng.uniform(6.0, 10.0) * unit,
            osc_period=rng.uniform(6.0, 10.0),
            osc_axis=rng.uniform(0, np.pi),
        )


@dataclass(frozen=True)
class _BrightMotion:
    """Extra magnitudes of the bright corpus's motions, drawn for every bright video after `_Motion`."""

    heading: float  # rad: direction of travel of zigzag, speed_up, slow_down, spin_and_move
    period: float  # frames of zigzag, bounce, pulse and circle
    amplitude: float  # px: zigzag's sideways swing, bounce's height, circle's radius
    pulse: float  # log scale amplitude of pulse
    phase: float  # rad: where on the circle the anchor frame is

    @classmethod
    def sample(cls, rng: np.random.Generator, unit: float) -> _BrightMotion:
        return cls(
            heading=rng.uniform(0, 2 * np.pi),
            period=rng.uniform(8.0, 14.0),
            amplitude=rng.uniform(6.0, 10.0) * unit,
            pulse=rng.uniform(0.2, 0.35),
            phase=rng.uniform(0, 2 * np.pi),
        )


def _trajectory(
    name: str, pose: np.ndarray, motion: _Motion, dt: np.ndarray, bright: _BrightMotion | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (x, y, angle, scale) of the main object; `pose` holds them at the anchor frame dt = 0."""
    x, y, angle, scale = (np.full(dt.shape, value) for value in pose)
    if name in _DIRECTIONS:
        dx, dy = _DIRECTIONS[name]
        x += dx * motion.speed * dt
        y += dy * motion.speed * dt
    elif name in ("rotate_cw", "rotate_ccw"):
        angle += (1 if name == "rotate_cw" else -1) * motion.spin * dt
    elif name in ("approach", "recede"):
        scale *= np.exp((1 if name == "approach" else -1) * motion.zoom * dt)
    elif name == "oscillate":
        offset = motion.osc_amplitude * np.sin(2 * np.pi * dt / motion.osc_period)
        x += offset * np.cos(motion.osc_axis)
        y += offset * np.sin(motion.osc_axis)
    elif name in BRIGHT_CLASS_NAMES:
        _bright_trajectory(name, (x, y, angle, scale), motion, bright, dt)
    return x, y, angle, scale


def _bright_trajectory(
    name: str, pose: tuple[np.ndarray, ...], motion: _Motion, bright: _BrightMotion, dt: np.ndarray
) -> None:
    """The bright corpus's motions, added in place to the (x, y, angle, scale) arrays of `pose`."""
    x, y, angle, scale = pose
    along = np.array([np.cos(bright.heading), np.sin(bright.heading)])
    across = np.array([-along[1], along[0]])
    half = max(1.0, float(np.abs(dt).max()))
    travel = np.zeros_like(dt)  # distance along the heading
    sideways = np.zeros_like(dt)
    if name == "zigzag":  # steady drift with a triangle-wave swing across it
        travel = 0.6 * motion.speed * dt
        sideways = bright.amplitude * (2 / np.pi) * np.arcsin(np.sin(2 * np.pi * dt / bright.period))
    elif name == "bounce":  # hops on a floor below the anchor (y grows downwards)
        y -= bright.amplitude * np.abs(np.sin(np.pi * dt / bright.period))
    elif name in ("speed_up", "slow_down"):  # speed goes 0 -> 2 v (speed_up) or 2 v -> 0 over the video
        accel = (1 if name == "speed_up" else -1) * motion.speed / half
        travel = motion.speed * dt + 0.5 * accel * dt**2
    elif name == "spin_and_move":
        travel = motion.speed * dt
        angle += motion.spin * dt
    elif name == "pulse":
        scale *= np.exp(bright.pulse * np.sin(2 * np.pi * dt / bright.period))
    elif name in ("circle_cw", "circle_ccw"):  # clockwise on screen, where y points down
        turn = (1 if name == "circle_cw" else -1) * 2 * np.pi * dt / (1.5 * bright.period)
        x += bright.amplitude * (np.cos(bright.phase + turn) - np.cos(bright.phase))
        y += bright.amplitude * (np.sin(bright.phase + turn) - np.sin(bright.phase))
    x += travel * along[0] + sideways * across[0]
    y += travel * along[1] + sideways * across[1]


def _distractor_layers(
    rng: np.random.Generator, height: int, width: int, unit: float, dt: np.ndarray
) -> tuple[list[tuple[_Sprite, np.ndarray]], list[tuple[_Sprite, np.ndarray]]]:
    """0-2 small objects drifting slowly in random directions, split into (behind, in front) layers."""
    behind, in_front = [], []
    for _ in range(int(rng.integers(0, 3))):
        sprite = _random_sprite(rng)
        start = np.array([rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, 2 * np.pi)])
        size = rng.uniform(3.0, 7.0) * unit
        heading, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.6) * unit
        velocity = np.array([speed * np.cos(heading), speed * np.sin(heading), rng.uniform(-0.02, 0.02)])
        path = np.column_stack([start + velocity * dt[:, None], np.full(dt.shape, size)])
        (in_front if rng.random() < 0.3 else behind).append((sprite, path))
    return behind, in_front


def _class_names(corpus: str) -> tuple[str, ...]:
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {tuple(CORPORA)}, got {corpus!r}")
    return CORPORA[corpus]


def render_clean_video(
    label: int, rng: np.random.Generator, config: SyntheticConfig, corpus: str = "dark"
) -> np.ndarray:
    """Clean linear-radiance clip of class `label` of `corpus`: float32 (T, H, W, 3) in [0, 1].

    Frame T // 2 is the anchor: given the same rng state it is identical for every class of a corpus.
    """
    names = _class_names(corpus)
    if not 0 <= label < len(names):
        raise ValueError(f"label must be in [0, {len(names)}), got {label}")
    t, h, w = config.num_frames, config.height, config.width
    unit = min(h, w) / _REFERENCE_SIZE
    dt = np.arange(t, dtype=np.float64) - t // 2
    # Camera shake: render the static scene on a larger canvas and crop it at a random offset per frame.
    shake = max(1, round(2 * unit))
    scene = _background(rng, h + 2 * shake, w + 2 * shake)
    light = _illumination(rng, h + 2 * shake, w + 2 * shake)

    sprite = _random_sprite(rng)
    # Log-uniform size, same for all classes, so approach and recede overlap in size at every frame.
    size = np.exp(rng.uniform(np.log(18.0), np.log(30.0))) * unit
    # Anchored in the central region (the same for every class) so that a tiny network's centre crop
    # sees the action; travel then stays mostly in view, and wrapping handles the rest.
    anchor = np.array(
        [rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h, rng.uniform(0, 2 * np.pi), size]
    )
    motion = _Motion.sample(rng, unit)
    # Drawn for the bright corpus only, so the dark videos stay what they were before it existed.
    bright = _BrightMotion.sample(rng, unit) if corpus == "bright" else None
    path = np.column_stack(_trajectory(names[label], anchor, motion, dt, bright))
    behind, in_front = _distractor_layers(rng, h, w, unit, dt)
    layers = [*behind, (sprite, path), *in_front]  # back to front
    offsets = rng.integers(-shake, shake + 1, size=(t, 2))

    frames = np.empty((t, h, w, 3), dtype=np.float32)
    for i, (ox, oy) in enumerate(offsets):
        crop = np.s_[shake + oy : shake + oy + h, shake + ox : shake + ox + w]
        frame = scene[crop].copy()
        for layer_sprite, layer_path in layers:
            x, y, angle, scale = layer_path[i]
            # Objects live in scene coordinates, so the camera offset moves them with the background.
            _paint(frame, layer_sprite, x - ox, y - oy, angle, scale)
        frames[i] = frame * light[crop]
    return np.clip(frames, 0.0, 1.0, out=frames)


def render_empty_scene(rng: np.random.Generator, frames: int, config: SyntheticConfig) -> np.ndarray:
    """Clean frames of a still, empty scene: background under its light, no object."""
    scene = _background(rng, config.height, config.width) * _illumination(rng, config.height, config.width)
    return np.repeat(np.clip(scene, 0, 1)[None], frames, axis=0)


def add_distractor(clean: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Clean frames of an empty scene with the distractor `kind` (one of DISTRACTORS) in a stretch of
    them (in place):
      - headlights: a bright soft spot sweeping across the scene (a car passing);
      - light_switch: the scene's light switched on (x3 radiance) or off (x0.3);
      - noise_burst: strong sensor noise (interference, a gain spike);
      - shake: the camera shaking (the whole scene shifted by a few pixels, frame to frame)."""
    t, h, w, _ = clean.shape
    length = max(1, min(t, round(t * rng.uniform(0.3, 0.8))))
    first = int(rng.integers(0, t - length + 1))
    stretch = clean[first:first + length]
    if kind == "headlights":  # a soft bright spot crossing the frame, left to right or back
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        row, sigma = rng.uniform(0.3, 0.8) * h, rng.uniform(0.1, 0.2) * max(h, w)
        path = np.linspace(-0.2 * w, 1.2 * w, length)[:: 1 if rng.random() < 0.5 else -1]
        for k, x in enumerate(path):
            stretch[k] += 1.5 * np.exp(-((xx - x) ** 2 + (yy - row) ** 2) / (2 * sigma**2))[..., None]
    elif kind == "light_switch":
        stretch *= 3.0 if rng.random() < 0.5 else 0.3
    elif kind == "noise_burst":
        stretch += rng.normal(0.0, rng.uniform(0.1, 0.3), stretch.shape).astype(np.float32)
    elif kind == "shake":
        for k in range(length):
            stretch[k] = np.roll(stretch[k], tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
    return np.clip(clean, 0.0, 1.0, out=clean)


def render_background_clip(index: int, rng: np.random.Generator, config: SyntheticConfig) -> np.ndarray:
    """Clean frames of the `index`-th background clip of a split: an empty scene, and in 4 of 5 clips
    (cycling through DISTRACTORS by index, so every kind is as frequent) one of the night's false alarms.

    A distracted clip is a window of a gap as long as the recordings' (GAP_SECONDS), cut where the
    distractor is: it moves at the speed the watched night shows (headlights cross in 1-10 s, not in
    the clip's own 2 s), so what the model learns as "no action" is what it meets."""
    kind = index % (len(DISTRACTORS) + 1)
    if not kind:
        return render_empty_scene(rng, config.num_frames, config)
    gap = max(config.num_frames, round(rng.uniform(*GAP_SECONDS) * config.fps))
    empty = render_empty_scene(rng, gap, config)
    distracted = add_distractor(empty.copy(), DISTRACTORS[kind - 1], rng)
    touched = np.flatnonzero((distracted != empty).any(axis=(1, 2, 3)))
    if not touched.size:  # nothing visible changed (a light switched off over black): any window
        touched = np.arange(gap)
    # Any window showing at least one touched frame.
    first = int(rng.integers(max(0, touched[0] - config.num_frames + 1),
                             min(touched[-1], gap - config.num_frames) + 1))
    return distracted[first:first + config.num_frames]


# ---------------------------------------------------------------------------------------------------
# Low-light sensor model and encoding.
# ---------------------------------------------------------------------------------------------------


def _bayer_channels(height: int, width: int) -> np.ndarray:
    """Colour channel seen by each photosite of an RGGB colour filter array, (H, W)."""
    rggb = np.array([[0, 1], [1, 2]])
    return np.tile(rggb, (-(-height // 2), -(-width // 2)))[:height, :width]


def _blur121(image: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] x [1, 2, 1] filter over the last two axes, zero padded."""
    padded = np.pad(image, [(0, 0)] * (image.ndim - 2) + [(1, 1), (1, 1)])
    rows = padded[..., :-2, :] + 2 * padded[..., 1:-1, :] + padded[..., 2:, :]
    return rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]


def _demosaic(raw: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Bilinear demosaicking as normalised convolution: (T, H, W) raw -> (T, H, W, 3)."""
    rgb = np.empty((*raw.shape, 3), dtype=np.float32)
    for c in range(3):
        sites = (channels == c).astype(np.float32)
        rgb[..., c] = _blur121(raw * sites) / _blur121(sites)
    return rgb


def _night_light(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """How the night lights a rendered scene, drawn per video: (multiplier, emitted) radiance, (H, W, 1).

    At night the light comes from a few sources, not from the sky: it falls off more steeply across the
    scene than the clean render's soft lighting (the multiplier), and in about half of the scenes small
    light sources are in view, far brighter than what they light (emitted, in units of the scene's mean
    radiance): lamps (a hot core in a glow) and lit windows. They hang in the upper part of the frame,
    above the central region where the actions happen, and do not move with the camera's shake.
    """
    unit = min(height, width) / _REFERENCE_SIZE
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    floor = rng.uniform(*NIGHT.falloff_floor)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    sigma = rng.uniform(0.2, 0.5) * max(height, width)
    multiplier = floor + (1.0 - floor) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
    emitted = np.zeros((height, width), dtype=np.float32)
    sources = int(rng.integers(1, 4)) if rng.random() < NIGHT.lit_scenes else 0
    for _ in range(sources):
        x, y = rng.uniform(0, width), rng.uniform(0, 0.35) * height
        if rng.random() < 0.5:  # a lamp: a small hot core in a wide glow
            core, power = rng.uniform(1.0, 2.5) * unit, rng.uniform(*NIGHT.lamp_power)
            r2 = (xx - x) ** 2 + (yy - y) ** 2
            emitted += power * (np.exp(-r2 / (2 * core**2)) + 0.08 * np.exp(-r2 / (2 * (5 * core) ** 2)))
        else:  # a lit window: a dimmer, evenly lit rectangle
            half_w, half_h = rng.uniform(2.0, 6.0, 2) * unit
            inside = (np.abs(xx - x) < half_w) & (np.abs(yy - y) < half_h)
            emitted += rng.uniform(*NIGHT.window_power) * inside
    return multiplier[..., None].astype(np.float32), emitted[..., None]


def degrade_low_light(
    frames: np.ndarray,
    rng: np.random.Generator,
    color_cast: bool,
    exposure: tuple[float, float] = (0.03, 0.08),
    read_noise: tuple[float, float] = (1.0, 3.0),
) -> np.ndarray:
    """Simulate a night-time capture of clean linear frames in [0, 1]; returns uint8 (T, H, W, 3).

    The night lights the scene (`_night_light`: steep falloff, lamps and lit windows in some scenes). A
    short exposure collects a few percent of the full-scale charge on an RGGB Bayer sensor, photon
    arrival adds Poisson shot noise, the readout adds Gaussian noise, and the camera's auto gain
    amplifies signal and noise alike up to a still-dark metered level. Demosaicking spreads the noise
    spatially and across colours. Then the camera's processing, as measured on real dark footage (ARID
    v1.0, benchmarks/darkness.py): a black level that crushes the darkest pixels (and their noise) to
    the black pedestal, a gamma tone curve, luma and chroma noise reduction with the low-light
    desaturation cameras apply at high gain, and a white balance that leaves only part of the light's
    colour cast; then the 8-bit quantisation. Its ranges are `NIGHT`'s.
    `exposure` (fraction of full scale collected, log-uniform) and `read_noise` (electrons RMS, uniform)
    are the ranges each video's values are drawn from.
    """
    exposure = np.exp(rng.uniform(*np.log(exposure)))  # fraction of full scale collected
    full_scale = rng.uniform(1000.0, 3000.0)  # electrons at radiance 1 and full exposure
    read_noise = rng.uniform(*read_noise)  # electrons RMS
    level = rng.uniform(*NIGHT.level)  # linear mean level the auto gain settles at
    # Drawn even when casts are disabled so the remaining noise draws do not depend on the flag.
    has_cast = rng.random() < 0.5
    cast = np.asarray(_COLOR_CASTS[int(rng.integers(len(_COLOR_CASTS)))], dtype=np.float32)
    # What the white balance leaves of the cast: the cast mixed with white.
    cast = 1.0 - np.float32(rng.uniform(*NIGHT.cast_left)) * (1.0 - cast)
    black = rng.uniform(*NIGHT.black) * level  # black level, linear, relative to the metered level
    gamma = rng.uniform(*NIGHT.gamma)
    saturation = rng.uniform(*NIGHT.saturation)
    pedestal = rng.uniform(*NIGHT.pedestal)
    denoise = rng.uniform(*NIGHT.denoise)
    multiplier, emitted = _night_light(rng, *frames.shape[1:3])

    lit = frames * multiplier
    # The white balance evens out the scene's channel means (grey world), then leaves part of the cast.
    lit *= (lit.mean() / np.maximum(lit.mean(axis=(0, 1, 2)), 1e-6)).astype(np.float32)
    if color_cast and has_cast:
        lit *= cast
        emitted = emitted * cast
    # Auto gain meters the expected signal of the lit scene (the metering leaves out the few saturated
    # light sources), so the brightness does not depend on the noise draw.
    metered = max(float(lit.mean()) * exposure * full_scale, 1e-3)
    radiance = lit + emitted * np.float32(lit.mean())
    channels = _bayer_channels(*frames.shape[1:3])
    expected = np.take_along_axis(radiance, channels[None, :, :, None], axis=-1)[..., 0]
    expected *= np.float32(exposure * full_scale)
    electrons = rng.poisson(expected).astype(np.float32)
    electrons += rng.standard_normal(electrons.shape, dtype=np.float32) * np.float32(read_noise)
    gain = level / metered
    linear = _demosaic(electrons, channels) * np.float32(gain)
    tone = np.power(np.clip((linear - black) / (1.0 - black), 0.0, 1.0), np.float32(1.0 / gamma))
    # Noise reduction: luma blended with its 3x3 blur, chroma smoothed 5x5 and desaturated.
    luma = tone @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    chroma = np.moveaxis(tone - luma[..., None], -1, 1)  # (T, 3, H, W), smoothed over the last two axes
    ones = np.ones(chroma.shape[-2:], np.float32)
    smooth = _blur121(_blur121(chroma)) / _blur121(_blur121(ones))
    luma += np.float32(denoise) * (_blur121(luma) / _blur121(ones) - luma)
    rgb = luma[..., None] + np.float32(saturation) * np.moveaxis(smooth, 1, -1)
    rgb = np.float32(pedestal) + np.float32(1.0 - pedestal) * rgb
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def encode_bright(frames: np.ndarray) -> np.ndarray:
    """A well-lit, clean capture of linear frames in [0, 1]: uint8 sRGB (T, H, W, 3), as daylight video
    is stored. The radiance is scaled so the clip's mean sits at a mid-grey 0.2 (about 0.48 after the
    sRGB curve), the exposure an auto-exposing camera picks in daylight; no sensor noise to speak of."""
    linear = np.clip(frames * np.float32(0.2 / max(float(frames.mean()), 1e-3)), 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.rint(srgb * 255.0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------
# Dataset on disk.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _VideoJob:
    root: Path
    config: SyntheticConfig
    split: str
    label: int
    index: int
    corpus: str = "dark"

    @property
    def relpath(self) -> str:
        names = dark_class_names(True) if self.corpus == "dark" else CORPORA[self.corpus]
        name = names[self.label]
        return f"{name}/{name}_{self.split}_{self.index:04d}.mp4"


def _make_video(job: _VideoJob) -> None:
    """Top-level (hence picklable under "spawn") worker that renders, degrades and writes one video."""
    # The video's own seed makes its content independent of worker count and scheduling order; the
    # bright corpus's seeds carry one more entry, so its videos never repeat a dark video's scene.
    config = job.config
    key = [config.seed, SPLITS.index(job.split), job.label, job.index]
    rng = np.random.default_rng(key if job.corpus == "dark" else [*key, 1])
    if job.label == len(CLASS_NAMES) and job.corpus == "dark":
        clean = render_background_clip(job.index, rng, config)
    else:
        clean = render_clean_video(job.label, rng, config, job.corpus)
    if job.corpus == "bright":
        frames = encode_bright(clean)
    else:
        frames = degrade_low_light(clean, rng, config.color_cast, config.exposure, config.read_noise)
    write_video(job.root / job.relpath, frames, config.fps)


def split_list_path(root: PathLike, split: str) -> Path:
    """Path of the ARID-style list of one split: root/splits/synthetic_split1_{split}.txt."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return Path(root) / "splits" / f"synthetic_split1_{split}.txt"


# Options of the low-light degradation, which the bright corpus does not apply.
_DARK_ONLY = frozenset({"color_cast", "exposure", "read_noise", "background_ratio"})


def _marker_content(config: SyntheticConfig, corpus: str = "dark") -> dict[str, object]:
    skip = {"workers"} | (_DARK_ONLY if corpus == "bright" else set())
    if not config.background_ratio:  # so a dataset generated before the option existed still matches
        skip.add("background_ratio")
    content = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in skip}
    if corpus == "dark":  # a dark set made by another night camera (before its calibration) is stale
        content["camera"] = json.loads(json.dumps({f.name: getattr(NIGHT, f.name) for f in fields(NIGHT)}))
    if corpus == "dark" and config.background_ratio:  # so are background clips cut before GAP_SECONDS
        content["background_gap_seconds"] = list(GAP_SECONDS)
    # As JSON reads them back: tuples are lists.
    return {"corpus": corpus, **{k: list(v) if isinstance(v, tuple) else v for k, v in content.items()}}


def is_generated(root: PathLike, config: SyntheticConfig, corpus: str = "dark") -> bool:
    """True iff a complete dataset of `corpus` for exactly this config (ignoring `workers`, and for the
    bright corpus the darkness options) is at `root`."""
    marker = Path(root) / MARKER_NAME
    try:
        return json.loads(marker.read_text()) == _marker_content(config, corpus)
    except (OSError, ValueError):
        return False


def _write_split_lists(root: Path, jobs: list[_VideoJob]) -> None:
    """ARID v1.0 format: `idx<TAB>label<TAB>relative/path.mp4`, idx counting from 0 in each list."""
    for split in SPLITS:
        rows = [job for job in jobs if job.split == split]
        lines = [f"{idx}\t{job.label}\t{job.relpath}\n" for idx, job in enumerate(rows)]
        split_list_path(root, split).write_text("".join(lines))


def generate_dataset(
    root: PathLike, config: SyntheticConfig | None = None, progress: bool = False, corpus: str = "dark"
) -> Path:
    """Write the `corpus` ("dark": the target set; "bright": the pretraining set) for `config` (default:
    `SyntheticConfig()`) under `root` and return it as a Path."""
    if config is None:
        config = SyntheticConfig()
    names = _class_names(corpus)
    root = Path(root)
    # A stale marker must not vouch for a dataset that is about to be overwritten.
    (root / MARKER_NAME).unlink(missing_ok=True)
    jobs = [
        _VideoJob(root, config, split, label, k, corpus)
        for split in SPLITS
        for label in range(len(names))
        for k in range(config.per_class(split))
    ]
    if corpus == "dark" and config.background_ratio:
        names = dark_class_names(True)
        jobs += [_VideoJob(root, config, split, len(CLASS_NAMES), k) for split in SPLITS
                 for k in range(config.background_clips(split))]
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(parents=True, exist_ok=True)

    bar = tqdm(total=len(jobs), desc=f"synthetic videos ({corpus})", file=sys.stderr, disable=not progress)
    with bar:
        if config.workers == 1:
            for job in jobs:
                _make_video(job)
                bar.update()
        else:
            # The platform's default start method: fork is cheap on Linux, where spawn would re-import
            # the whole package (lightning included) in every worker; the worker is spawn-safe anyway.
            with ProcessPoolExecutor(config.workers) as pool:
                chunk = max(1, len(jobs) // (8 * config.workers))
                for _ in pool.map(_make_video, jobs, chunksize=chunk):
                    bar.update()

    _write_split_lists(root, jobs)
    (root / MARKER_NAME).write_text(json.dumps(_marker_content(config, corpus), indent=2))
    return root
