"""Long generated night recordings with ground truth: consecutive action segments of known classes and
boundaries, separated by gaps with no action, written frame by frame (memory flat over any length).

Each action segment is a clip of the generated dataset (dlkdd.synthetic.dataset's renderer and low-light
sensor model, imported, not copied), as long as the segment: one camera view of one incident. A gap
is a view of an empty scene (the same background and lighting machinery, no object), through the same
sensor. The annotations JSON beside the video lists every segment in seconds and frames:

    python -m dlkdd.synthetic.recordings night.mp4 --duration 3600 --fps 25 --height 48 --width 64
    python -m dlkdd.synthetic.recordings empty.mp4 --duration 3600 --no_actions   (an empty night)

A share of the gaps (`distractors`, default half) holds one of the night's usual false alarms, none of
them an action (annotated as the gap's "distractor", its class stays null): headlights, light_switch,
noise_burst, shake (dlkdd.synthetic.dataset.DISTRACTORS and add_distractor, which the dark set's background
clips share).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from dlkdd.synthetic.dataset import (
    CLASS_NAMES,
    DISTRACTORS,
    SyntheticConfig,
    add_distractor,
    degrade_low_light,
    render_clean_video,
    render_empty_scene,
)
from dlkdd.video import VideoWriter

# A fixed start of the night, so a generated recording has a wall clock (its mp4 creation time).
FILMED = "2026-01-15T22:00:00.000000Z"


@dataclass(frozen=True)
class LongVideoConfig:
    duration: float = 60.0  # seconds
    fps: int = 15
    height: int = 96  # even
    width: int = 128  # even
    segment: tuple[float, float] = (2.0, 4.0)  # seconds of one action, drawn uniformly
    gap: tuple[float, float] = (1.0, 3.0)  # seconds of no action between actions
    seed: int = 0
    color_cast: bool = True
    distractors: float = 0.5  # share of gaps holding a distractor (DISTRACTORS)
    actions: bool = True  # False: an empty night, gaps (and distractors) only

    def __post_init__(self) -> None:
        if self.duration <= 0 or self.fps < 1 or min(*self.segment, *self.gap) <= 0:
            raise ValueError("duration, fps, segment and gap lengths must be positive")
        if self.segment[0] > self.segment[1] or self.gap[0] > self.gap[1]:
            raise ValueError("segment and gap ranges are (shortest, longest)")
        if not 0.0 <= self.distractors <= 1.0:
            raise ValueError(f"distractors is the share of gaps with one, in [0, 1]; got {self.distractors}")


@dataclass(frozen=True)
class Segment:
    label: int | None  # None: no action
    start_frame: int
    end_frame: int  # exclusive
    distractor: str | None = None  # in a gap: one of DISTRACTORS, or none

    def as_dict(self, fps: int) -> dict:
        return {"class": CLASS_NAMES[self.label] if self.label is not None else None,
                "start": self.start_frame / fps, "end": self.end_frame / fps,
                "start_frame": self.start_frame, "end_frame": self.end_frame,
                **({"distractor": self.distractor} if self.distractor else {})}


def plan(config: LongVideoConfig) -> list[Segment]:
    """Gap, action, gap, action, ... to the duration; classes cycle in a shuffled order per round. The
    distractors are drawn from a stream of their own, so the actions' plan does not depend on them."""
    rng = np.random.default_rng([config.seed, 1])
    distract = np.random.default_rng([config.seed, 3])
    total = round(config.duration * config.fps)
    segments, frame, order = [], 0, []
    while frame < total:
        gap = max(1, round(rng.uniform(*config.gap) * config.fps))
        kind = DISTRACTORS[int(distract.integers(len(DISTRACTORS)))]
        segments.append(Segment(None, frame, min(total, frame + gap),
                                kind if distract.random() < config.distractors else None))
        frame += gap
        if frame >= total:
            break
        if not config.actions:
            continue
        if not order:
            order = list(rng.permutation(len(CLASS_NAMES)))
        length = max(2, round(rng.uniform(*config.segment) * config.fps))
        segments.append(Segment(int(order.pop()), frame, min(total, frame + length)))
        frame += length
    return segments


def render(config: LongVideoConfig, segments: list[Segment]) -> Iterator[np.ndarray]:
    """uint8 (H, W, 3) frames, one segment rendered at a time."""
    clip = SyntheticConfig(height=config.height, width=config.width, fps=config.fps, workers=1,
                           color_cast=config.color_cast)
    for index, segment in enumerate(segments):
        rng = np.random.default_rng([config.seed, 2, index])
        length = segment.end_frame - segment.start_frame
        if segment.label is None:
            clean = render_empty_scene(rng, length, clip)
            if segment.distractor is not None:
                clean = add_distractor(clean.copy(), segment.distractor, rng)
        else:
            clean = render_clean_video(segment.label, rng, replace(clip, num_frames=max(2, length)))[:length]
        yield from degrade_low_light(clean, rng, config.color_cast)


def generate_long_video(path: str | Path, config: LongVideoConfig | None = None) -> Path:
    """Write the recording (H.264 mp4, with a creation time) and `<path>.json`, its annotations;
    returns the annotations' path."""
    config = config or LongVideoConfig()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    segments = plan(config)
    options = {"crf": "20", "preset": "veryfast"}
    with VideoWriter(path, config.width, config.height, config.fps, options=options, threads=None,
                     metadata={"creation_time": FILMED}) as writer:
        for rgb in render(config, segments):
            writer.write(rgb)
    annotations = path.with_suffix(path.suffix + ".json")
    annotations.write_text(json.dumps({
        "video": path.name, "config": asdict(config), "classes": list(CLASS_NAMES), "filmed": FILMED,
        "num_frames": segments[-1].end_frame if segments else 0,
        "segments": [s.as_dict(config.fps) for s in segments],
    }, indent=1) + "\n")
    return annotations


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", type=Path, help="the mp4 to write (annotations go to PATH.json)")
    defaults = LongVideoConfig()
    for name in ("duration", "fps", "height", "width", "seed", "distractors"):
        p.add_argument(f"--{name}", type=type(getattr(defaults, name)), default=getattr(defaults, name))
    for name in ("segment", "gap"):
        p.add_argument(f"--{name}", type=float, nargs=2, default=getattr(defaults, name),
                       metavar=("SHORTEST", "LONGEST"), help="seconds")
    p.add_argument("--no_actions", action="store_true", help="an empty night: gaps and distractors only")
    args = p.parse_args(argv)
    config = LongVideoConfig(args.duration, args.fps, args.height, args.width, tuple(args.segment),
                             tuple(args.gap), seed=args.seed, distractors=args.distractors,
                             actions=not args.no_actions)
    print(f"wrote {args.path} and {generate_long_video(args.path, config)}")


if __name__ == "__main__":
    main()
