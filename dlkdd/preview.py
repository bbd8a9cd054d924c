"""`dlkdd preview`: look before you trust an enhancer. Writes, for a few clips of a dataset split, a
PNG grid (rows: clips x a few of their frames; columns: the original dark clip, then each enhancer)
and an mp4 of the same layout playing the whole clips, so the views a teacher would see can be
judged by eye.

  dlkdd preview                                             generated data, the classic enhancers
  dlkdd preview --data configs/arid/data.yaml --data.root /data/ARID --split train
  dlkdd preview --enhancers '[gic, clahe, zero_dce]' \\
      --enhancer_options '{zero_dce: {checkpoint: runs/synthetic/enhancer/checkpoints/best.ckpt}}'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from dlkdd._registry import unknown_name_error
from dlkdd.data import DarkVideoDataModule
from dlkdd.data.decode import decode_clip, probe
from dlkdd.data.sampling import uniform_clips
from dlkdd.data.views import to_float_video
from dlkdd.enhance import create_enhancer, list_enhancers
from dlkdd.parse_errors import CommandParser
from dlkdd.shipped import resolve_config_args
from dlkdd.video import write_video

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "configs" / "synthetic" / "data.yaml"
CLASSIC = ("gic", "log", "he", "clahe")
HEADER_HEIGHT = 14  # one line of PIL's default bitmap font
GAP = 2  # black pixels between cells


def build_parser() -> CommandParser:
    parser = CommandParser(prog="dlkdd preview", description=__doc__)
    parser.add_class_arguments(DarkVideoDataModule, "data", help="the data options of a stage config")
    parser.add_argument("--split", default="test", help="train, val or test")
    parser.add_argument("--clips", type=int, default=3, help="videos shown, spread over the split list")
    parser.add_argument("--frames", type=int, default=2, help="frames of each clip in the PNG")
    parser.add_argument(
        "--enhancers",
        type=list[str] | None,
        default=None,
        help="enhancer names, one column each; default: the data's enhancer, then the other classic ones",
    )
    parser.add_argument(
        "--enhancer_options",
        type=dict[str, dict],
        default={},
        help="options per enhancer name, e.g. {zero_dce: {checkpoint: PATH}}; the data's enhancer "
        "gets --data.enhancer_options unless given here",
    )
    parser.add_argument("--scale", type=int, default=2, help="pixel zoom of the picture and the video")
    parser.add_argument("--fps", type=int, default=5, help="frame rate of the mp4")
    parser.add_argument("--out", type=Path, default=Path("preview"), help="folder for enhancers.png/.mp4")
    return parser


def load_clips(datamodule: DarkVideoDataModule, split: str, count: int) -> Tensor:
    """The centre clip of `count` videos spread over the split list, float (N,C,T,H,W) in [0,1]."""
    items = datamodule.source.items(split)
    if not items:
        raise ValueError(f"split {split!r} of {datamodule.hparams.root} lists no videos (option --split)")
    hp = datamodule.hparams
    picks = np.linspace(0, len(items) - 1, min(count, len(items))).round().astype(int)
    clips = []
    for index in picks:
        path = items[index].path
        (frames,) = uniform_clips(probe(path).num_frames, hp.clip_len, hp.frame_stride, 1)
        clips.append(torch.from_numpy(decode_clip(path, frames, hp.frame_size)))
    return to_float_video(torch.stack(clips))


def column_label(name: str, options: dict) -> str:
    shown = {k: v for k, v in options.items() if k != "checkpoint"}  # a path would not fit a column
    return " ".join([name, *(f"{k}={v}" for k, v in shown.items())])


def grid(columns: list[Tensor], frames: list[int], labels: list[str], scale: int) -> np.ndarray:
    """uint8 (H,W,3) image: a header of column labels, then one row per (clip, frame), one column per
    view; columns are float (N,C,T,H,W)."""
    clips, _, _, height, width = columns[0].shape
    cell_h, cell_w = height * scale + GAP, width * scale + GAP
    image = np.zeros((HEADER_HEIGHT + clips * len(frames) * cell_h, len(columns) * cell_w, 3), np.uint8)
    for col, video in enumerate(columns):
        pixels = video.mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 4, 1).cpu().numpy()
        pixels = pixels.repeat(scale, axis=2).repeat(scale, axis=3)
        for clip in range(clips):
            for k, t in enumerate(frames):
                top = HEADER_HEIGHT + (clip * len(frames) + k) * cell_h
                image[top : top + cell_h - GAP, col * cell_w : (col + 1) * cell_w - GAP] = pixels[clip, t]
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for col, label in enumerate(labels):
        draw.text((col * cell_w + 2, 1), label, fill=(255, 255, 255))
    return np.asarray(canvas)


def even(image: np.ndarray) -> np.ndarray:
    """Pad to even height and width, as H.264 in yuv420p needs."""
    height, width = image.shape[:2]
    return np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)))


def main(argv: list[str] | None = None) -> tuple[Path, Path]:
    parser = build_parser()
    argv = resolve_config_args(list(argv or []))  # `--data configs/folder/data.yaml` from any folder
    names_a_data_file = any(arg == "--data" or arg.startswith("--data=") for arg in argv)
    cfg = parser.parse_args(argv if names_a_data_file else ["--data", str(DEFAULT_DATA), *argv])
    for name, value in (("--clips", cfg.clips), ("--frames", cfg.frames), ("--scale", cfg.scale)):
        if value < 1:
            parser.error(f"{name} must be >= 1, got {value}")
    datamodule = parser.instantiate(cfg).data
    datamodule.prepare_data()  # generates the synthetic data on a first run

    data_enhancer = datamodule.hparams.enhancer
    names = cfg.enhancers or [data_enhancer, *(n for n in CLASSIC if n != data_enhancer)]
    options = {data_enhancer: datamodule.hparams.enhancer_options or {}, **cfg.enhancer_options}
    for name in names:
        if name not in list_enhancers():
            raise unknown_name_error("enhancer", name, list_enhancers(), "--enhancers")
    stray = set(cfg.enhancer_options) - set(names)
    if stray:
        parser.error(f"--enhancer_options names {sorted(stray)}, which --enhancers does not list")

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    original = load_clips(datamodule, cfg.split, cfg.clips).to(device)
    columns, labels = [original], ["original"]
    with torch.no_grad():
        for name in names:
            columns.append(create_enhancer(name, **options.get(name, {})).to(device)(original))
            labels.append(column_label(name, options.get(name, {})))

    clip_len = original.shape[2]
    shown = np.linspace(0, clip_len - 1, min(cfg.frames, clip_len)).round().astype(int).tolist()
    cfg.out.mkdir(parents=True, exist_ok=True)
    png, mp4 = cfg.out / "enhancers.png", cfg.out / "enhancers.mp4"
    Image.fromarray(grid(columns, shown, labels, cfg.scale)).save(png, optimize=True)
    video = np.stack([even(grid(columns, [t], labels, cfg.scale)) for t in range(clip_len)])
    write_video(mp4, video, cfg.fps)
    print(f"columns: {' | '.join(labels)}")
    print(f"wrote {png} and {mp4}")
    return png, mp4
