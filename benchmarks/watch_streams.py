"""How many live 15 fps streams one model follows in real time: every stream in ONE process (its windows
batched together, `dlkdd watch URL URL ...`) against one process per stream (`dlkdd watch URL` each, the
baseline), at each frame size.

    python -m benchmarks.watch_streams --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt \\
        --out benchmarks/results/watch_streams.json
    # on a GPU (prepared, not run here): untrained registry backbones, speed only
    python -m benchmarks.watch_streams --device cuda --backbones r2plus1d_34 mc3_18 --sizes 240x320 \\
        --max_streams 64 --out benchmarks/results/watch_streams_gpu.json

The streams are H.264 MPEG-TS (a dark scene with a sensor's grain and a moving bar), encoded once per
frame size and served over HTTP from 127.0.0.1 by a server process that sends each request's bytes evenly
over the stream's duration: real time, as a camera would. A trial starts N streams at once (the workers
load the model first, then all connect together) and passes when every stream's frames all came (none
lost to an error), at most 1 % were dropped at its decoder, and its p95 latency (frame decoded -> its
window's result) is under 1 s. For each frame size the count doubles (1, 2, 4, ...) until both ways fail
or --max_streams; the two ways run in turn at each count, so a busy machine slows both alike.
"""

from __future__ import annotations

import io
import multiprocessing
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from dlkdd.video import VideoWriter

WAYS = ("one process", "process per stream")


def encode(seconds: float, fps: int, size: tuple[int, int]) -> bytes:
    """`seconds` of H.264 MPEG-TS at `size` (height, width): grain new in every frame, a moving bar."""
    rng = np.random.default_rng(0)
    grain = rng.integers(8, 40, (16, *size, 1), dtype=np.uint8)
    buffer = io.BytesIO()
    with VideoWriter(buffer, size[1], size[0], fps, container_format="mpegts", threads=None,
                     options={"preset": "ultrafast", "tune": "zerolatency", "g": str(2 * fps)}) as writer:
        bar = max(4, size[1] // 16)
        for k in range(round(seconds * fps)):
            image = np.repeat(grain[k % len(grain)], 3, axis=2)
            x = (2 * k) % (size[1] - bar)
            image[:, x:x + bar] = 120
            writer.write(image)
    return buffer.getvalue()


def serve(streams: dict[str, bytes], seconds: float, port, ready) -> None:
    """The camera server (its own process): GET /NAME/anything sends NAME's bytes over `seconds`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            data = streams.get(self.path.strip("/").split("/")[0])
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            began, step = time.monotonic(), 188 * 7
            try:
                for k in range(0, len(data), step):
                    time.sleep(max(0.0, began + seconds * k / len(data) - time.monotonic()))
                    self.wfile.write(data[k:k + step])
            except OSError:
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    ready.set()
    server.serve_forever()


def load_model(model: dict, device: str):
    """The ClipModel: a checkpoint, or an untrained registry backbone (for speed alone)."""
    from dlkdd.inference import load_clip_model

    if "ckpt_path" in model:
        return load_clip_model(model["ckpt_path"], device)
    import torch

    from dlkdd.backbones import create_backbone
    from dlkdd.data.clip_spec import ClipSpec
    from dlkdd.inference.clip_model import InferenceGraph, TorchClipModel

    class Logits(torch.nn.Module):
        def __init__(self, backbone: torch.nn.Module) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, video: torch.Tensor) -> torch.Tensor:
            return self.backbone(video).logits

    crop = model["crop_size"]
    spec = ClipSpec(model["clip_len"], model["frame_stride"], (crop, round(crop * 4 / 3)), crop,
                    [str(k) for k in range(10)], backbone=model["backbone"])
    graph = InferenceGraph(Logits(create_backbone(model["backbone"], 10)))
    return TorchClipModel(graph.eval(), spec, device)


def worker(model: dict, urls: list[str], threads: int, device: str, loaded, go, results) -> None:
    """One process: load the model, wait for the start, watch `urls` (several: one batched loop)."""
    import torch

    from dlkdd.watch import WatchOptions, watch
    from dlkdd.watch.multiplex import Camera, watch_many

    torch.set_num_threads(threads)
    clip_model = load_model(model, device)
    options = WatchOptions(reconnect=0, status_every=0)
    loaded.release()
    go.wait()
    silent = {"log": lambda _: None, "on_alert": lambda _: None}
    if len(urls) == 1:
        summaries = [watch(urls[0], clip_model, options, **silent)]
    else:
        summaries = watch_many([Camera(url, f"cam{k}", options) for k, url in enumerate(urls)], clip_model,
                               **silent)
    results.put([asdict(s) for s in summaries])


def trial(way: str, streams: int, base: str, model: dict, args, frames: int) -> dict:
    """N streams, one way; the figures of every stream and whether all kept up."""
    context = multiprocessing.get_context("spawn")
    loaded, go, results = context.Semaphore(0), context.Event(), context.Queue()
    urls = [f"{base}/{k}" for k in range(streams)]
    groups = [urls] if way == WAYS[0] else [[url] for url in urls]
    workers = [context.Process(target=worker, args=(model, group, args.threads, args.device, loaded, go,
                                                    results), daemon=True) for group in groups]
    for process in workers:
        process.start()
    for _ in workers:
        loaded.acquire()
    go.set()
    began = time.monotonic()
    summaries = [s for _ in workers for s in results.get(timeout=args.seconds * 4 + 120)]
    wall = time.monotonic() - began
    for process in workers:
        process.join()
    dropped = [s["dropped_frames"] / max(1, s["frames"] + s["dropped_frames"]) for s in summaries]
    p95 = [s["latency"].get("p95", float("inf")) for s in summaries]
    complete = [s["frames"] + s["dropped_frames"] == frames for s in summaries]
    kept_up = all(complete) and max(dropped) <= 0.01 and max(p95) < 1.0
    return {"streams": streams, "wall_s": wall, "kept_up": kept_up, "worst_p95_latency_s": max(p95),
            "median_p95_latency_s": float(np.median(p95)), "worst_drop_fraction": max(dropped),
            "complete": sum(complete),
            "errors": sorted({s["ended"] for s in summaries if s["ended"].startswith("SOURCE")})}



def main(argv: list[str] | None = None) -> dict:

    from benchmarks.common import markdown_table, parser, write_json

    p = parser(__doc__.split("\n\n")[0])
    model_group = p.add_mutually_exclusive_group(required=True)
    model_group.add_argument("--ckpt_path", type=Path, help="the student (a .ckpt or an exported file)")
    model_group.add_argument("--backbones", nargs="+", help="untrained registry backbones, timed in turn")
    p.add_argument("--clip_len", type=int, default=16, help="with --backbones")
    p.add_argument("--frame_stride", type=int, default=1, help="with --backbones")
    p.add_argument("--crop_size", type=int, default=112, help="with --backbones")
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", nargs="+", default=["96x128", "240x320"],
                   help="frame sizes HxW (the generated recordings', ARID's)")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--seconds", type=float, default=12.0, help="each stream's length, seconds")
    p.add_argument("--max_streams", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="torch threads per process (the machine's 2 cores)")
    args = p.parse_args(argv)
    frames = round(args.seconds * args.fps)
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes]
    streams = {f"{h}x{w}": encode(args.seconds, args.fps, (h, w)) for h, w in sizes}
    context = multiprocessing.get_context("spawn")
    port, ready = context.Value("i", 0), context.Event()
    server = context.Process(target=serve, args=(streams, args.seconds, port, ready), daemon=True)
    server.start()
    ready.wait(60)
    models = ({"ckpt": {"ckpt_path": str(args.ckpt_path)}} if args.ckpt_path else
              {name: {"backbone": name, "clip_len": args.clip_len, "frame_stride": args.frame_stride,
                      "crop_size": args.crop_size} for name in args.backbones})
    results = {"device": args.device,
               "threads": args.threads, "fps": args.fps, "seconds": args.seconds,
               "criterion": "every frame came, <= 1 % dropped, p95 latency < 1 s, on every stream",
               "note": "measured on a machine shared with other jobs: timings are under load", "runs": {}}
    rows = []
    try:
        for model_name, model in models.items():
            for size in streams:
                base = f"http://127.0.0.1:{port.value}/{size}"
                found = {way: 0 for way in WAYS}
                trials: list[dict] = []
                count = 1
                # Doubling while either way still keeps up.
                while count <= args.max_streams and any(found[way] == count // 2 for way in WAYS):
                    for way in WAYS:
                        if found[way] < count // 2:
                            continue  # this way already failed at a smaller count
                        figures = {"way": way, **trial(way, count, base, model, args, frames)}
                        trials.append(figures)
                        print(f"{model_name} {size} {way}: {count} streams, kept up: {figures['kept_up']}, "
                              f"worst p95 {figures['worst_p95_latency_s']:.2f} s, "
                              f"drops {100 * figures['worst_drop_fraction']:.1f} %", flush=True)
                        if figures["kept_up"]:
                            found[way] = count
                    count *= 2
                ratio = found[WAYS[0]] / found[WAYS[1]] if found[WAYS[1]] else float("inf")
                results["runs"][f"{model_name} {size}"] = {"max_streams": found, "ratio": ratio,
                                                           "trials": trials}
                rows.append([model_name, size, found[WAYS[0]], found[WAYS[1]], f"{ratio:.1f}x"])
    finally:
        server.terminate()
    print()
    print(markdown_table(["model", "frame size", "streams, one process", "streams, process per stream",
                          "ratio"], rows))
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
