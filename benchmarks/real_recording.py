"""`dlkdd watch` on real dark footage: a recording made of real clips, measured with the field's event
metrics (as benchmarks/events.py measures the generated hours), and one annotated frame for the docs.

    python -m benchmarks.real_recording --root ../shared/real/arid6 \\
        --ckpt_path /tmp/rr/runs/weights/distill/final.ckpt --out benchmarks/results/real_recording.json \\
        --frame benchmarks/results/real_recording_frame.png

The recording: the clips of the held-out sessions of benchmarks.real_cpu_route's scene-grouped split (so a
model trained by that route never saw them), the classes taking turns, one after another at their own
frame rate and size, re-encoded into one H.264 mp4 with annotations in dlkdd.synthetic.recordings's format:
each clip one action segment (ARID has no empty footage to put between them). The real `dlkdd watch`
command runs over it once (timeline, events, annotated video, at watch's default event settings); its
events file is scored: frame accuracy, event precision / recall / F1 at tIoU 0.5, mAP at tIoU 0.3 / 0.5 /
0.7. One frame of the annotated video is saved with --frame.
"""

from __future__ import annotations

import json
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from benchmarks.common import markdown_table, parser, write_json
from benchmarks.real_cpu_route import scene_grouped_split
from dlkdd.video import VideoWriter
from dlkdd.watch.calibrate import default_settings
from dlkdd.watch.command import main as watch_main
from dlkdd.watch.scoring import detection_report


def taking_turns(clips: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """The clips, one class after another (Jump, Run, ..., Jump, ...), so neighbours differ."""
    by_class: dict[str, list[Path]] = {}
    for path, label in sorted(clips):
        by_class.setdefault(label, []).append(path)
    order = []
    for k in range(max(map(len, by_class.values()))):
        order += [(paths[k], label) for label, paths in sorted(by_class.items()) if k < len(paths)]
    return order


def write_recording(clips: list[tuple[Path, str]], path: Path) -> dict:
    """One mp4 of the clips in turn (the first clip's size and rate) and its annotations beside it."""
    segments, frames = [], 0
    with av.open(str(clips[0][0])) as first:
        stream = first.streams.video[0]
        fps = Fraction(stream.average_rate)
        width, height = stream.codec_context.width, stream.codec_context.height
    # The first clip's size and rate for all: ARID's clips share them (320x240, 30 fps).
    with VideoWriter(path, width, height, fps, options={"crf": "18"}, threads=None) as out:
        for clip, label in clips:
            start = frames
            with av.open(str(clip)) as source:
                for frame in source.decode(video=0):
                    out.write(frame.reformat(width=width, height=height, format="yuv420p"))
                    frames += 1
            segments.append({"class": label, "start": start / float(fps), "end": frames / float(fps),
                             "start_frame": start, "end_frame": frames, "clip": clip.name})
    annotations = {"video": path.name, "fps": float(fps), "num_frames": frames, "segments": segments,
                   "classes": sorted({label for _, label in clips})}
    path.with_name(path.name + ".json").write_text(json.dumps(annotations, indent=1))
    return annotations


def save_frame(video: Path, at: float, png: Path) -> None:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at:
                png.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.asarray(frame.to_ndarray(format="rgb24"))).save(png)
                return


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="class folders of <Class>_<scene>_<index> clips")
    p.add_argument("--ckpt_path", type=Path, required=True, help="the model (a .ckpt or an exported file)")
    p.add_argument("--test_fraction", type=float, default=0.3, help="as benchmarks.real_cpu_route's")
    p.add_argument("--clips", type=int, default=None, help="only the first N clips in turn (a short check)")
    p.add_argument("--hop", default="0.5s")
    p.add_argument("--frame", type=Path, default=None, help="also save one annotated frame (PNG) here")
    p.add_argument("--work", type=Path, default=None, help="the recording and watch's files (default: temp)")
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="dlkdd-real-recording-"))
    work.mkdir(parents=True, exist_ok=True)

    clips = taking_turns(scene_grouped_split(args.root, args.test_fraction)["test"])[: args.clips]
    recording = work / "real.mp4"
    annotations = write_recording(clips, recording)
    option = "--ckpt_path" if args.ckpt_path.suffix == ".ckpt" else "--model_file"  # fit's, or exported
    [summary] = watch_main([str(recording), option, str(args.ckpt_path), "--output_dir",
                            str(work / "watch"), "--hop", args.hop, "--video", "--status_every", "0"])
    lines = (work / "watch" / "real.events.jsonl").read_text().splitlines()
    events = [e for e in map(json.loads, lines) if e.get("type") == "event"]
    scored = detection_report(events, annotations["segments"], annotations["num_frames"], annotations["fps"])
    classes = annotations["classes"]
    results = {
        "root": str(args.root), "checkpoint": str(args.ckpt_path), "hop": args.hop,
        "clips": len(clips), "sessions": sorted({c.stem.rsplit("_", 1)[0] for c, _ in clips}),
        "seconds": annotations["num_frames"] / annotations["fps"], "classes": classes,
        "chance_window_top1": 1 / len(classes), "settings": default_settings(), "figures": scored,
        "realtime_factor": summary.realtime_factor,
    }
    print(markdown_table(["figure", "value"], [[k, f"{v:.3f}" if isinstance(v, float) else v]
                                               for k, v in scored.items()]))
    print(f"{len(clips)} real clips, {results['seconds']:.1f} s; chance per window "
          f"{100 / len(classes):.1f} %")
    if args.frame is not None:
        middle = annotations["segments"][len(annotations["segments"]) // 2]
        save_frame(work / "watch" / "real.annotated.mp4", (middle["start"] + middle["end"]) / 2, args.frame)
        results["frame"] = {"png": str(args.frame), "segment": middle}
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
