"""How close the DataLoader comes to raw PyAV decoding, and whether its memory stays flat.

    python -m benchmarks.loader [--root DIR] [--out FILE]

On one set of files (generated into a temp dir at the synthetic dataset's default size, or the class
folders / synthetic dataset at --root) it measures, in one run:
- raw: a plain single-process PyAV loop decoding exactly the frames each clip needs (keyframe seek,
  decode forward, swscale to the training size), no Dataset and no DataLoader;
- the DataLoader over VideoClipDataset at 1 and 2 workers, 3 epochs each (persistent workers), the
  same clip per video (the evaluation centre clip), clips/s over epochs 2-3;
- the ratios (target: 1 worker >= 70% of raw) and the resident memory of the main process plus its
  workers after every epoch (flat = no leak).
Raw is timed before and after the loaders and averaged, so a slow spell of a shared machine hits both.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from torch.utils.data import DataLoader

from benchmarks.common import machine, markdown_table, parser, write_json
from dlkdd.data.dataset import VideoClipDataset, collate_clips
from dlkdd.data.decode import probe
from dlkdd.data.sampling import uniform_clips
from dlkdd.data.sources import SourceOptions, make_source
from dlkdd.data.synthetic import SyntheticConfig, generate_dataset

CLIP_LEN, FRAME_STRIDE, FRAME_SIZE, BATCH = 8, 2, (64, 85), 8
TARGET = 0.70
EPOCHS = 3


def raw_decode(paths: list[Path], clips: list[list[int]]) -> float:
    """Seconds for a plain PyAV pass over the frames the clips need."""
    start = time.perf_counter()
    for path, indices in zip(paths, clips, strict=True):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            fps, base = float(stream.average_rate), stream.time_base
            scale = max(FRAME_SIZE[0] / stream.height, FRAME_SIZE[1] / stream.width)
            width, height = round(stream.width * scale), round(stream.height * scale)
            container.seek(int(indices[0] / fps / base), stream=stream, backward=True)
            wanted = set(indices)
            for frame in container.decode(stream):
                index = round(frame.pts * base * fps)
                if index in wanted:
                    frame.to_ndarray(format="rgb24", width=width, height=height)
                if index >= max(wanted):
                    break
    return time.perf_counter() - start


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree_rss_mib() -> float:
    """Resident memory of this process and its children (the DataLoader workers), in MiB."""
    pid = os.getpid()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return (_rss_kib(pid) + sum(_rss_kib(int(c)) for c in children)) / 1024


def run_loader(dataset: VideoClipDataset, workers: int) -> tuple[float, list[float]]:
    """Clips/s over epochs 2..EPOCHS (epoch 1 pays for worker start-up) and the RSS after each epoch."""
    loader = DataLoader(dataset, batch_size=BATCH, num_workers=workers, collate_fn=collate_clips,
                        persistent_workers=True)
    rss, clips, seconds = [], 0, 0.0
    for epoch in range(EPOCHS):
        start = time.perf_counter()
        count = sum(len(batch["video"]) for batch in loader)
        if epoch > 0:
            clips, seconds = clips + count, seconds + time.perf_counter() - start
        rss.append(process_tree_rss_mib())
    del loader
    return clips / seconds, rss


def main(argv: list[str] | None = None) -> dict:
    args_parser = parser(__doc__.split("\n")[0])
    args_parser.add_argument("--root", type=Path, default=None,
                             help="class folders (or a generated synthetic dataset) to read instead")
    args = args_parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.root is None:
            print("Generating a synthetic dataset at its default video size (32 frames, 96x128); "
                  "its 100 training videos are read ...")
            config = SyntheticConfig(train_per_class=10, val_per_class=1, test_per_class=1)
            source = make_source("synthetic", generate_dataset(Path(tmp), config), 1)
        else:
            synthetic = (args.root / ".synthetic.json").is_file()
            source = make_source("synthetic" if synthetic else "folder", args.root, 1,
                                 SourceOptions(holdout_fraction=0.0))
        items = source.items("train")
        num_frames = [probe(item.path).num_frames for item in items]
        clips = [uniform_clips(n, CLIP_LEN, FRAME_STRIDE, 1)[0] for n in num_frames]
        paths = [item.path for item in items]
        frames_needed = sum(len(set(c)) for c in clips)
        dataset = VideoClipDataset(items, CLIP_LEN, FRAME_STRIDE, FRAME_SIZE, num_clips=1,
                                   num_frames=num_frames)

        raw_decode(paths, clips)  # warm the page cache and FFmpeg
        raw_seconds = [raw_decode(paths, clips)]
        loaders = {workers: run_loader(dataset, workers) for workers in (1, 2)}
        raw_seconds.append(raw_decode(paths, clips))

    raw_fps = frames_needed / float(np.mean(raw_seconds))
    raw_clips = len(paths) / float(np.mean(raw_seconds))
    rows = [["raw PyAV, 1 process", f"{raw_clips:.1f}", f"{raw_fps:.0f}", "1.00", "-"]]
    results = {"videos": len(paths), "clip_len": CLIP_LEN, "frame_stride": FRAME_STRIDE,
               "frame_size": FRAME_SIZE, "raw_frames_per_s": raw_fps, "raw_clips_per_s": raw_clips,
               "machine": machine()}
    for workers, (clips_per_s, rss) in loaders.items():
        ratio = clips_per_s / raw_clips
        rows.append([f"DataLoader, {workers} worker{'s' if workers > 1 else ''}", f"{clips_per_s:.1f}",
                     f"{clips_per_s * CLIP_LEN:.0f}", f"{ratio:.2f}", " / ".join(f"{m:.0f}" for m in rss)])
        results[f"workers_{workers}"] = {"clips_per_s": clips_per_s, "ratio_to_raw": ratio, "rss_mib": rss}
    print(f"{len(paths)} videos, clips of {CLIP_LEN} frames at stride {FRAME_STRIDE}, decoded to "
          f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}; {os.cpu_count()} CPU cores")
    print(markdown_table(["reader", "clips/s", "needed frames/s", "ratio to raw", "RSS MiB per epoch"], rows))
    one, two = results["workers_1"]["ratio_to_raw"], results["workers_2"]["ratio_to_raw"]
    verdict = "meets" if one >= TARGET else "misses"
    print(f"1 worker delivers {one:.0%} of the raw decode rate ({verdict} the {TARGET:.0%} target); "
          f"2 workers {two:.0%} ({two / one:.2f}x one worker).")
    growth = {w: rss[-1] - rss[0] for w, (_, rss) in loaders.items()}
    print("RSS growth from epoch 1 to epoch 3 (main process + workers; pages shared after fork count "
          "once per process): " + ", ".join(f"{w} worker(s) {g:+.0f} MiB" for w, g in growth.items()))
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
