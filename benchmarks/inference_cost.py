"""Inference cost: the distilled student (one stream, original view) against the two ways of using the
enhanced view at test time: a DarkLight-style two-stream model (original and enhanced, each through its
own backbone, logits fused) and enhance-then-classify (enhancer, then a classifier on the enhanced clip).

    python -m benchmarks.inference_cost                       # tiny3d at the synthetic settings
    python -m benchmarks.inference_cost --preset arid          # r2plus1d_34, 16 x 112^2 (slow on CPU)

Prints parameters, FLOPs per clip (torch.utils.flop_counter: convolutions and matmuls; per-pixel
enhancers such as gamma count as 0) and latency ratios to the student at each batch size, measured in
one interleaved run.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import interleaved_times, markdown_table, parser, write_json
from dlkdd.enhance import create_enhancer
from dlkdd.models import TeacherModule, TwoStreamModule

PRESETS = {
    # name: (backbone, clip_len, crop_size, batch sizes, gic gamma)
    "synthetic": ("tiny3d", 8, 56, (1, 16), 3.0),
    "arid": ("r2plus1d_34", 16, 112, (1, 4), 2.0),
}


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def parameters(*modules: nn.Module) -> int:
    return sum(p.numel() for module in modules for p in module.parameters())


def pipelines(backbone: str, num_classes: int, enhancers: dict[str, nn.Module]) -> dict:
    """name -> (callable on the dark clip, modules it runs, backbone passes per clip)."""
    student = TeacherModule(num_classes, backbone=backbone, view="original").eval()
    two_stream = TwoStreamModule(num_classes, backbone=backbone).eval()
    classifier = TeacherModule(num_classes, backbone=backbone, view="enhanced").eval()
    out = {"student (original view)": (student, (student,), 1)}
    for name, enhancer in enhancers.items():
        out[f"two-stream ({name})"] = (
            lambda x, e=enhancer: two_stream(x, e(x)), (two_stream, enhancer), 2)
        out[f"enhance ({name}) + classify"] = (
            lambda x, e=enhancer: classifier(e(x)), (classifier, enhancer), 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="synthetic")
    p.add_argument("--batch_sizes", type=int, nargs="+", default=None)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--num_classes", type=int, default=11)
    args = p.parse_args(argv)
    backbone, clip_len, crop, batch_sizes, gamma = PRESETS[args.preset]
    batch_sizes = args.batch_sizes or batch_sizes
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Zero-DCE++ as the shipped enhancer configs train it: curve map estimated at 1/4 resolution.
    enhancers = {"gic": create_enhancer("gic", gamma=gamma),
                 "zero_dce": create_enhancer("zero_dce", scale_factor=4)}
    runs = pipelines(backbone, args.num_classes, enhancers)
    for _, modules, _ in runs.values():
        for module in modules:
            module.to(device)

    one_clip = torch.rand(1, 3, clip_len, crop, crop, device=device) * 0.15
    results: dict = {"preset": args.preset, "backbone": backbone, "clip": [clip_len, crop, crop],
                     "device": str(device), "pipelines": {}}
    with torch.inference_mode():
        for name, (fn, modules, passes) in runs.items():
            results["pipelines"][name] = {
                "backbone_passes": passes,
                "parameters": parameters(*modules),
                "gflops_per_clip": count_flops(lambda fn=fn: fn(one_clip)) / 1e9,
            }
        for batch in batch_sizes:
            clips = torch.rand(batch, 3, clip_len, crop, crop, device=device) * 0.15
            candidates = {name: (lambda fn=fn, clips=clips: fn(clips)) for name, (fn, _, _) in runs.items()}
            times = interleaved_times(candidates, rounds=args.rounds, device=device)
            base = times["student (original view)"]
            for name, seconds in times.items():
                results["pipelines"][name][f"latency_ms_b{batch}"] = 1e3 * seconds
                results["pipelines"][name][f"latency_ratio_b{batch}"] = seconds / base

    student_flops = results["pipelines"]["student (original view)"]["gflops_per_clip"]
    two_stream_flops = results["pipelines"]["two-stream (gic)"]["gflops_per_clip"]
    results["student_is_one_stream"] = abs(two_stream_flops - 2 * student_flops) < 1e-9
    header = ["pipeline", "backbone passes", "params", "GFLOPs/clip"]
    header += [f"latency b{b} (ms, x student)" for b in batch_sizes]
    rows = [[name, r["backbone_passes"], f"{r['parameters']:,}", f"{r['gflops_per_clip']:.3f}"]
            + [f"{r[f'latency_ms_b{b}']:.1f} (x{r[f'latency_ratio_b{b}']:.2f})" for b in batch_sizes]
            for name, r in results["pipelines"].items()]
    print(f"{backbone}, clips of {clip_len} x {crop}^2, {device}:\n")
    print(markdown_table(header, rows))
    print(f"\nstudent FLOPs x 2 == two-stream (gic) FLOPs: {results['student_is_one_stream']}")
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
