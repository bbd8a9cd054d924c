"""Backbones on a CPU: parameters, FLOPs per clip and clips per second of every registry network at the
clip it is built for (the table of docs/backbones.md).

    python -m benchmarks.backbones_cpu --out benchmarks/results/backbones_cpu.json
    python -m benchmarks.backbones_cpu --only shufflenet3d_0.5x_g3 r3d_18 --rounds 2

FLOPs: torch.utils.flop_counter (convolutions and matmuls; a multiply-add counts 2), counted on the meta
device (exact, no compute). Clips/s: inference (torch.inference_mode) at batch 1 in eval mode, from the
fastest of `--rounds` calls per network taken in turn (interleaved), at the machine's torch thread count:
on a machine shared with other work the fastest call is the one least disturbed (as timeit advises), the
median is in the JSON too. Heads are for 10 classes.
"""

from __future__ import annotations

from statistics import median

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import interleaved_samples, markdown_table, parser, write_json
from dlkdd.backbones import create_backbone, get_backbone_spec, list_backbones

# Clip length each network is built or released for, where not 16: the tiny nets at the synthetic
# configs' 8 frames, R(2+1)D-34 at the IG-65M 32-frame clip of the ARID / folder configs.
FRAMES = {"tiny3d": 8, "tiny_r2plus1d": 8, "r2plus1d_34": 32}
NUM_CLASSES = 10


def clip_of(name: str) -> tuple[int, int]:
    spec = get_backbone_spec(name)
    return spec.fixed_frames or FRAMES.get(name, 16), spec.fixed_size or spec.crop_size


def flops_per_clip(name: str) -> int:
    frames, size = clip_of(name)
    with torch.device("meta"):
        backbone = create_backbone(name, NUM_CLASSES).eval()
        clip = torch.empty(1, 3, frames, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        backbone(clip)
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", default=None, help="these backbones (default: all registered)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    names = args.only or list_backbones()
    torch.manual_seed(0)
    nets, clips, results = {}, {}, {}
    for name in names:
        frames, size = clip_of(name)
        nets[name] = create_backbone(name, NUM_CLASSES).eval()
        clips[name] = torch.rand(1, 3, frames, size, size) * 0.15  # dark, like the inputs they will see
        results[name] = {"clip": [frames, size, size],
                         "parameters": sum(p.numel() for p in nets[name].parameters()),
                         "gflops_per_clip": flops_per_clip(name) / 1e9}
    with torch.inference_mode():
        samples = interleaved_samples({n: (lambda n=n: nets[n](clips[n])) for n in names},
                                      rounds=args.rounds, warmup=1)
    for name, seconds in samples.items():
        results[name] |= {"ms_per_clip": 1e3 * min(seconds), "median_ms_per_clip": 1e3 * median(seconds),
                          "clips_per_s": 1 / min(seconds)}
    by_flops = sorted(results.items(), key=lambda kv: kv[1]["gflops_per_clip"])
    rows = [[name, "x".join(map(str, r["clip"])), f"{r['parameters'] / 1e6:.2f}",
             f"{r['gflops_per_clip']:.2f}", f"{r['clips_per_s']:.1f}"] for name, r in by_flops]
    print(f"CPU, {torch.get_num_threads()} threads, batch 1, inference:\n")
    print(markdown_table(["backbone", "clip (T x H x W)", "params (M)", "GFLOPs/clip", "clips/s"], rows))
    figures = {"threads": torch.get_num_threads(), "batch": 1, "rounds": args.rounds, "backbones": results}
    write_json(args.out, figures)
    return figures


if __name__ == "__main__":
    main()
