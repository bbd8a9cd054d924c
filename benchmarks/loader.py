"""How fast the loader feeds clips, against raw PyAV and against what one GPU step consumes.

    python -m benchmarks.loader                      # small synthetic mp4s, the quickstart's clips
    python -m benchmarks.loader --preset arid        # ARID-like AVIs, configs/arid/data.yaml's clips
    python -m benchmarks.loader --preset dark48      # Dark-48-like H.264 mp4s, configs/dark48/data.yaml
    python -m benchmarks.loader --root DIR [--preset arid] [--out FILE]   # your class folders

On one set of files it measures, in one run:
- raw: a plain single-process PyAV loop decoding exactly the frames each clip needs (keyframe seek,
  decode forward, swscale to the training size with one reused context), no Dataset and no
  DataLoader: clips/s per core;
- the DataLoader over VideoClipDataset decoding the files, at 1 and 2 workers, and the same reading
  the decoded-clip store (--data.clip_store), 5 epochs each (persistent workers), the same clip per
  video (the evaluation centre clip), clips/s over epochs 2-5, and the resident memory of the main
  process plus its workers after every epoch (flat = no leak);
- the store's one-time build time and disk use;
- with a preset: the clips/s one GPU step of the config's R(2+1)D-34 consumes at the config's batch,
  an ESTIMATE from the FLOP count (torch.utils.flop_counter) and a stated device throughput
  (--gpu_tflops x --gpu_utilisation), and from it the cores one GPU needs with and without the store.
Raw is timed before and after the loaders and averaged; the loaders run interleaved (decode, store,
decode, store), so a slow spell of a shared machine hits all of them.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
import yaml
from av.video.reformatter import VideoReformatter
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import machine, markdown_table, parser, write_json
from dlkdd.backbones import create_backbone
from dlkdd.data.dataset import VideoClipDataset, collate_clips
from dlkdd.data.decode import probe
from dlkdd.data.sampling import uniform_clips
from dlkdd.data.sources import ARID_CLASSES, SourceOptions, make_source
from dlkdd.data.store import ClipStore, disk_bytes
from dlkdd.synthetic.dataset import SyntheticConfig, generate_dataset
from dlkdd.synthetic.formats import generate_arid_like, generate_dark48_like

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.70  # 1 decoding worker against raw PyAV
STORE_TARGET = 5.0  # 1 worker reading the store against 1 worker decoding
# NVIDIA's H100 / H200 SXM datasheet: 989 TFLOP/s dense bf16 tensor-core throughput.
H100_BF16_DENSE_TFLOPS = 989.0


@dataclass(frozen=True)
class Settings:
    clip_len: int = 8
    frame_stride: int = 2
    frame_size: tuple[int, int] = (64, 85)
    batch_size: int = 8
    crop_size: int = 56


def preset_settings(preset: str) -> Settings:
    """The clip settings of configs/<preset>/data.yaml."""
    data = yaml.safe_load((REPO / "configs" / preset / "data.yaml").read_text())
    return Settings(data["clip_len"], data["frame_stride"], tuple(data["frame_size"]), data["batch_size"],
                    data["crop_size"])


def raw_decode(paths: list[Path], clips: list[list[int]], frame_size: tuple[int, int]) -> float:
    """Seconds for a plain PyAV pass over the frames the clips need."""
    start = time.perf_counter()
    for path, indices in zip(paths, clips, strict=True):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            fps, base = float(stream.average_rate), stream.time_base
            scale = max(frame_size[0] / stream.height, frame_size[1] / stream.width)
            width, height = round(stream.width * scale), round(stream.height * scale)
            container.seek(int(indices[0] / fps / base), stream=stream, backward=True)
            wanted = set(indices)
            scaler = VideoReformatter()  # one swscale context per file, as decode_clip uses
            for frame in container.decode(stream):
                index = round(frame.pts * base * fps)
                if index in wanted:
                    scaler.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
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


def run_loader(dataset: VideoClipDataset, workers: int, batch_size: int, epochs: int = 3
               ) -> tuple[float, list[float]]:
    """Clips/s over epochs 2..epochs (epoch 1 pays for worker start-up) and the RSS after each epoch."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_clips,
                        persistent_workers=True)
    rss, clips, seconds = [], 0, 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        count = sum(len(batch["video"]) for batch in loader)
        if epoch > 0:
            clips, seconds = clips + count, seconds + time.perf_counter() - start
        rss.append(process_tree_rss_mib())
    del loader
    return clips / seconds, rss


def step_flops(backbone: str, settings: Settings) -> dict[str, float]:
    """FLOPs per clip of a training step (forward + backward) and of a distillation step (teacher
    forward + student forward and backward), counted by torch.utils.flop_counter on the meta device."""
    with torch.device("meta"):
        net = create_backbone(backbone, num_classes=11)
        clip = torch.empty(1, 3, settings.clip_len, settings.crop_size, settings.crop_size)
    with FlopCounterMode(display=False) as forward:
        net(clip)
    with FlopCounterMode(display=False) as train:
        net(clip).logits.sum().backward()
    return {"forward": forward.get_total_flops(), "train": train.get_total_flops(),
            "distill": forward.get_total_flops() + train.get_total_flops()}


def _files(args, tmp: Path) -> list:
    if args.root is not None:
        dataset = args.preset if args.preset else (
            "synthetic" if (args.root / ".synthetic.json").is_file() else "folder")
        source = make_source(dataset, args.root, 1, SourceOptions(holdout_fraction=0.0))
    elif args.preset == "arid":
        print(f"Generating ARID-like videos: MPEG-4 Part 2 in AVI, 320x240, 30 fps, {args.seconds} s, "
              f"{args.videos_per_class} per class, {args.classes} classes ...")
        names = ARID_CLASSES[:args.classes]
        source = make_source("arid", generate_arid_like(tmp, names, args.videos_per_class, args.seconds), 1)
    elif args.preset == "dark48":
        print(f"Generating Dark-48-like videos: H.264 mp4, 640x360 / 480x360, 30 fps, {args.seconds} s, "
              f"{args.videos_per_class} per class, {args.classes} classes ...")
        source = make_source("dark48", generate_dark48_like(tmp, args.classes, args.videos_per_class,
                                                            args.seconds), 1)
    else:
        print("Generating a synthetic dataset at its default video size (32 frames, 96x128); "
              "its 100 training videos are read ...")
        config = SyntheticConfig(train_per_class=10, val_per_class=1, test_per_class=1)
        source = make_source("synthetic", generate_dataset(tmp, config), 1)
        return source.items("train")
    # Both split lists: the generated presets hold out one video per class as the test split.
    items = source.items("train") + source.items("test")
    return list({item.path: item for item in items}.values())


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=None, help="videos to read instead of generated ones")
    p.add_argument("--preset", choices=["arid", "dark48"], default=None,
                   help="generated files like the dataset's, and its config's clip settings")
    p.add_argument("--classes", type=int, default=None, help="classes to generate (arid: 11, dark48: 4)")
    p.add_argument("--videos_per_class", type=int, default=3)
    p.add_argument("--seconds", type=float, default=None, help="video length (arid: 4, dark48: 8)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per reader; the first is not timed")
    p.add_argument("--gpu_tflops", type=float, default=H100_BF16_DENSE_TFLOPS,
                   help="device peak for the GPU estimate (default: H100/H200 SXM bf16 dense)")
    p.add_argument("--gpu_utilisation", type=float, default=0.3,
                   help="fraction of the peak one training step reaches (an assumption)")
    args = p.parse_args(argv)
    args.classes = args.classes or (11 if args.preset == "arid" else 4)
    args.seconds = args.seconds or (8.0 if args.preset == "dark48" else 4.0)
    settings = preset_settings(args.preset) if args.preset else Settings()
    size = settings.frame_size
    with tempfile.TemporaryDirectory() as tmp:
        items = _files(args, Path(tmp) / "videos")
        num_frames = [probe(item.path).num_frames for item in items]
        clips = [uniform_clips(n, settings.clip_len, settings.frame_stride, 1)[0] for n in num_frames]
        paths = [item.path for item in items]
        frames_needed = sum(len(set(c)) for c in clips)

        store = ClipStore(Path(tmp) / "store", size)
        start = time.perf_counter()
        entries = store.build(paths, num_frames, workers=1, progress=False)
        build_seconds = time.perf_counter() - start
        stored_bytes = disk_bytes(entries)

        def dataset(stored):
            return VideoClipDataset(items, settings.clip_len, settings.frame_stride, size, num_clips=1,
                                    num_frames=num_frames, stored=stored)

        raw_decode(paths, clips, size)  # warm the page cache and FFmpeg
        raw_seconds = [raw_decode(paths, clips, size)]
        loaders = {}
        for workers in (1, 2):
            for name, stored in (("decode", None), ("store", entries)):
                loaders[(name, workers)] = run_loader(dataset(stored), workers, settings.batch_size,
                                                      args.epochs)
        raw_seconds.append(raw_decode(paths, clips, size))

    raw_clips = len(paths) / float(np.mean(raw_seconds))
    results = {"preset": args.preset, "videos": len(paths), "frames_per_video": float(np.mean(num_frames)),
               **{k: v for k, v in vars(settings).items()}, "raw_clips_per_s": raw_clips,
               "raw_needed_frames_per_s": frames_needed / float(np.mean(raw_seconds)), "machine": machine()}
    rows = [["raw PyAV, 1 process", f"{raw_clips:.1f}", f"{results['raw_needed_frames_per_s']:.0f}", "1.00",
             "-"]]
    for (name, workers), (clips_per_s, rss) in loaders.items():
        reads = "decoding the files" if name == "decode" else "reading the store"
        label = f"DataLoader {reads}, {workers} worker{'s' if workers > 1 else ''}"
        rows.append([label, f"{clips_per_s:.1f}", f"{clips_per_s * settings.clip_len:.0f}",
                     f"{clips_per_s / raw_clips:.2f}", " / ".join(f"{m:.0f}" for m in rss)])
        results[f"{name}_workers_{workers}"] = {"clips_per_s": clips_per_s, "rss_mib": rss,
                                                "ratio_to_raw": clips_per_s / raw_clips}
    results["store"] = {"build_seconds": build_seconds, "bytes": stored_bytes,
                        "gb_per_1000_videos": stored_bytes / len(paths) * 1000 / 1e9,
                        "mb_per_second_of_30fps_video": size[0] * size[1] * 3 * 30 / 1e6}
    decode_1, store_1 = results["decode_workers_1"]["clips_per_s"], results["store_workers_1"]["clips_per_s"]
    results["store_over_decode_1_worker"] = store_1 / decode_1

    print(f"{len(paths)} videos of {np.mean(num_frames):.0f} frames on average, clips of {settings.clip_len} "
          f"frames at stride {settings.frame_stride}, decoded to {size[1]}x{size[0]} (WxH), batch "
          f"{settings.batch_size}; {os.cpu_count()} CPU cores")
    print(markdown_table(["reader", "clips/s", "clip frames/s", "ratio to raw", "RSS MiB per epoch"], rows))
    one = results["decode_workers_1"]["ratio_to_raw"]
    print(f"1 decoding worker delivers {one:.0%} of the raw decode rate "
          f"({'meets' if one >= TARGET else 'misses'} the {TARGET:.0%} target); 1 worker reading the store "
          f"{store_1 / decode_1:.1f}x 1 decoding worker "
          f"({'meets' if store_1 / decode_1 >= STORE_TARGET else 'misses'} the {STORE_TARGET:.0f}x target).")
    s = results["store"]
    print(f"Store: built in {build_seconds:.1f} s for {len(paths)} videos (one pass, 1 thread; "
          f"{build_seconds * decode_1 / len(paths):.1f} epochs of 1-worker decoding), "
          f"{stored_bytes / 1e6:.0f} MB: "
          f"{s['gb_per_1000_videos']:.1f} GB per 1,000 videos of this length "
          f"({s['mb_per_second_of_30fps_video']:.2f} MB per second of 30 fps video).")
    if args.preset:
        flops = step_flops("r2plus1d_34", settings)
        sustained = args.gpu_tflops * 1e12 * args.gpu_utilisation
        gpu = {}
        for step in ("train", "distill"):
            clips_per_s = sustained / flops[step]
            gpu[step] = {"gflops_per_clip": flops[step] / 1e9, "clips_per_s": clips_per_s,
                         "step_ms": 1e3 * settings.batch_size / clips_per_s,
                         "cores_decoding": clips_per_s / decode_1, "cores_store": clips_per_s / store_1}
        results["gpu_estimate"] = {"tflops": args.gpu_tflops, "utilisation": args.gpu_utilisation,
                                   "forward_gflops_per_clip": flops["forward"] / 1e9, **gpu}
        print(f"ESTIMATE (no GPU measured): R(2+1)D-34 at {settings.clip_len}x{settings.crop_size}^2, "
              f"{flops['forward'] / 1e9:.0f} GFLOP forward per clip (torch.utils.flop_counter); device "
              f"{args.gpu_tflops:.0f} TFLOP/s bf16 dense x {args.gpu_utilisation:.0%} utilisation (assumed).")
        print(markdown_table(
            ["step", "GFLOP per clip", "clips/s one GPU consumes", f"step ms at batch {settings.batch_size}",
             "cores to feed it, decoding", "cores to feed it, store"],
            [[step, f"{g['gflops_per_clip']:.0f}", f"{g['clips_per_s']:.0f}", f"{g['step_ms']:.1f}",
              f"{g['cores_decoding']:.1f}", f"{g['cores_store']:.2f}"] for step, g in gpu.items()]))
    growth = {k: rss[-1] - rss[0] for k, (_, rss) in loaders.items()}
    print("RSS growth from the first to the last epoch (main process + workers; pages shared after fork "
          "count once per process): " + ", ".join(f"{n} {w}w {g:+.0f} MiB" for (n, w), g in growth.items()))
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
