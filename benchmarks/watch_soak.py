"""Soak: `dlkdd watch` on a live MPEG-TS stream whose clock crosses the 33-bit wrap and restarts twice,
fed through a FIFO faster than real time; memory, open files and threads over the run, and the timeline.

    python -m benchmarks.watch_soak --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
    python -m benchmarks.watch_soak --ckpt_path best.ckpt --minutes 1600 --speed 40   # 26.7 h of media

The default is 10 minutes of media (25 fps, 64 x 48) at 10x real time: about a minute of watching, sized
for a shared CI machine, not days; --minutes makes it longer. A separate process (the camera) encodes
three segments back to back into the FIFO, each with its own clock, as an encoder restarting on one
connection sends them:

  A  starts 1/6 of the run before the 33-bit wrap (2**33 ticks of 90 kHz) and crosses it: FFmpeg's
     demuxer unwraps it;
  B  restarts at 0 (a camera reboot): a jump back;
  C  restarts 5 s (at most half of C) below the demuxer's wrap reference (60 s before A's first
     timestamp): a jump back, and 5 s later a jump of -2**33 ticks the demuxer no longer unwraps
     (dlkdd's clock does); with 6.5 minutes or more C crosses the wrap again, which the demuxer unwraps.

The watcher samples its resident memory, open file descriptors and OS threads as it goes. Windows are
as long as the hop (10 frames), so they tile the media: the timeline has no hole when the windows
cover it all but the tail of each segment (shorter than a window). Writes the figures with the commit,
the command line, the machine and the date.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from dlkdd.video import VideoWriter

WRAP_SECONDS = 2**33 / 90000  # dlkdd.watch.clock's WRAP_TICKS in seconds (not imported: it imports torch)
SIZE = (48, 64)


def segments(total: float) -> list[tuple[float, float]]:
    """(clock start, seconds) of the three segments, in seconds of the encoder's clock."""
    third = total / 3
    first = WRAP_SECONDS - total / 6
    reference = first - 60  # FFmpeg's wrap reference: 60 s before the stream's first timestamp
    return [(first, third), (0.0, third), (reference - min(5.0, third / 2), third)]


def camera(fifo: str, total: float, fps: int, speed: float) -> None:
    """Encode the segments into the FIFO at `speed` times real time (run as its own process)."""
    grain = np.random.default_rng(0).integers(10, 40, (32, *SIZE, 1), dtype=np.uint8)
    began, sent = time.monotonic(), 0
    with open(fifo, "wb", buffering=0) as pipe:
        for start, seconds in segments(total):
            options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(2 * fps)}
            with VideoWriter(pipe, SIZE[1], SIZE[0], fps, container_format="mpegts", options=options,
                             threads=None) as writer:
                first = round(start * fps)
                for k in range(round(seconds * fps)):
                    image = np.repeat(grain[k % len(grain)], 3, axis=2)
                    x = (2 * k) % (SIZE[1] - 8)
                    image[:, x:x + 8] = 200
                    writer.write(image, first + k)
                    sent += 1
                    time.sleep(max(0.0, began + sent / fps / speed - time.monotonic()))


def process_figures() -> tuple[float, int, int]:
    """Resident MiB, open file descriptors, OS threads (FFmpeg's and torch's included) of this process."""
    rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    fds = len(os.listdir("/proc/self/fd"))
    threads = int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                       if line.startswith("Threads:")))
    return rss, fds, threads


def holes(spans: list[tuple[float, float]], total: float) -> list[tuple[float, float]]:
    """Stretches of [0, total) no window covers."""
    out, reach = [], 0.0
    for start, end in sorted(spans):
        if start > reach + 1e-6:
            out.append((reach, start))
        reach = max(reach, end)
    if total > reach + 1e-6:
        out.append((reach, total))
    return out



def main(argv: list[str] | None = None) -> dict:
    # Imported here: the camera process imports this module too, and needs only PyAV.
    import torch

    from benchmarks.common import parser, write_json
    from dlkdd.inference import load_clip_model
    from dlkdd.watch import WatchOptions, watch

    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--ckpt_path", type=Path, required=True, help="the student (a .ckpt or an exported file)")
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of media streamed")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--speed", type=float, default=10.0, help="the camera's pace, times real time")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--sample_every", type=float, default=1.0, help="seconds between samples")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    total = 60 * args.minutes
    work = Path(tempfile.mkdtemp(prefix="dlkdd-watch-soak-"))
    fifo = work / "camera.fifo"
    os.mkfifo(fifo)
    model = load_clip_model(args.ckpt_path)
    span = (model.spec.clip_len - 1) * model.spec.frame_stride + 1
    producer = multiprocessing.get_context("spawn").Process(
        target=camera, args=(str(fifo), total, args.fps, args.speed), daemon=True)
    producer.start()

    samples: list[list[float]] = []
    began = time.monotonic()

    def sample(media: float) -> None:
        now = time.monotonic() - began
        if not samples or now - samples[-1][0] >= args.sample_every:
            samples.append([round(now, 2), round(media, 2), *process_figures()])

    # A queue of 4 s of frames rides out the model's first (slow) steps and a busy machine's stalls.
    options = WatchOptions(hop=f"{span}f", batch_size=8, timeline=work / "soak.jsonl",
                           events=work / "soak.events.jsonl", reconnect=0, status_every=0,
                           queue_frames=4 * args.fps)
    summary = watch(fifo, model, options, on_progress=sample)
    producer.join(timeout=60)
    sample(summary.media_seconds)

    windows = [json.loads(line) for line in (work / "soak.jsonl").read_text().splitlines()]
    records = [json.loads(line) for line in (work / "soak.events.jsonl").read_text().splitlines()]
    markers = [r for r in records if r["type"] == "discontinuity"]
    gaps = holes([(w["start"], w["end"]) for w in windows], summary.media_seconds)
    window_seconds = span / args.fps
    settled = [s for s in samples if s[0] >= samples[-1][0] / 4] or samples  # after the first quarter
    figures = {
        "media_minutes": args.minutes, "fps": args.fps, "speed": args.speed, "size": list(SIZE),
        "segments_clock_start_s": [round(s, 3) for s, _ in segments(total)],
        "frames": summary.frames, "dropped_frames": summary.dropped_frames,
        "media_seconds": round(summary.media_seconds, 3), "expected_media_seconds": total,
        "wall_seconds": round(summary.wall_seconds, 1), "x_realtime": round(summary.realtime_factor, 1),
        "windows": summary.windows,
        "windows_per_media_minute": round(summary.windows / (summary.media_seconds / 60), 1),
        "windows_per_wall_minute": round(summary.windows / (summary.wall_seconds / 60), 1),
        "discontinuities": summary.discontinuities, "markers": markers,
        "damaged_packets": summary.damaged_packets, "decode_errors": summary.decode_errors,
        "timeline_holes": [[round(a, 3), round(b, 3)] for a, b in gaps],
        "largest_hole_s": round(max((b - a for a, b in gaps), default=0.0), 3),
        "window_seconds": window_seconds,
        "rss_mib": {"first": round(samples[0][2], 1), "settled_min": round(min(s[2] for s in settled), 1),
                    "settled_max": round(max(s[2] for s in settled), 1), "last": round(samples[-1][2], 1)},
        "fds": {"min": min(s[3] for s in samples), "max": max(s[3] for s in samples)},
        "threads": {"min": min(s[4] for s in samples), "max": max(s[4] for s in samples)},
        "summary": summary.line(),
        "samples": {"columns": ["wall_s", "media_s", "rss_mib", "fds", "threads"],
                    "rows": [[round(v, 1) if isinstance(v, float) else v for v in s] for s in samples]},
        "load_note": "measured on a shared machine while other jobs ran: wall times are under load",
    }
    print(summary.line())
    print(f"{summary.media_seconds:.1f} s of media (expected {total:.1f}) in {summary.wall_seconds:.1f} s, "
          f"{summary.discontinuities} discontinuities ({', '.join(m['kind'] for m in markers)}), "
          f"{summary.dropped_frames} frames dropped, largest hole {figures['largest_hole_s']} s "
          f"(a window is {window_seconds:.2f} s)")
    print(f"RSS {figures['rss_mib']['first']} MiB at the start, {figures['rss_mib']['settled_min']}-"
          f"{figures['rss_mib']['settled_max']} MiB after the first quarter; fds {figures['fds']['min']}-"
          f"{figures['fds']['max']}; threads {figures['threads']['min']}-{figures['threads']['max']}; "
          f"{figures['windows_per_wall_minute']} windows per wall minute")
    write_json(args.out, figures)
    return figures


if __name__ == "__main__":
    main()
