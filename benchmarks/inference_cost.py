"""Inference cost: the distilled student (one stream, original view) against the two ways of using the
enhanced view at test time: a DarkLight-style two-stream model (original and enhanced, each through its
own backbone, logits fused) and enhance-then-classify (enhancer, then a classifier on the enhanced clip).

    python -m benchmarks.inference_cost                       # tiny3d at the synthetic settings
    python -m benchmarks.inference_cost --preset arid          # r2plus1d_34, 16 x 112^2 (slow on CPU)

Prints parameters, FLOPs per clip (torch.utils.flop_counter: convolutions and matmuls; per-pixel
enhancers such as gamma count as 0) and latency ratios to the student at each batch size, measured in
one interleaved run. Then the cost of the gate that GenKD as released adds to the deployed student
(genkd.variant released), against the plain student, for tiny3d at the synthetic clip (8 x 56^2) and
r2plus1d_34 at the ARID clip (32 x 112^2), counted on the meta device (exact counts, no compute); the
gate's elementwise product and sums (one multiply-add per feature-map element) are not counted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import interleaved_times, markdown_table, parser, write_json
from dlkdd.enhance import create_enhancer
from dlkdd.models import DistillModule, GenKDOptions, TeacherModule, TwoStreamModule

# GenKD gate cost: (backbone, clip_len, crop_size, the shipped distill_genkd.yaml's genkd.hidden).
GATE_CLIPS = {"synthetic": ("tiny3d", 8, 56, 128), "arid": ("r2plus1d_34", 32, 112, 256)}
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


def genkd_gate_cost(backbone: str, clip_len: int, crop: int, hidden: int, num_classes: int) -> dict:
    """Parameters and FLOPs per clip of the plain student and of the GenKD (released) gated student."""
    with torch.device("meta"):
        gated = DistillModule(num_classes, "unused", backbone=backbone, genkd=GenKDOptions(hidden=hidden))
        clip = torch.empty(1, 3, clip_len, crop, crop)
    gated.eval()
    with torch.no_grad():
        plain_flops = count_flops(lambda: gated.backbone(clip))
        gated_flops = count_flops(lambda: gated(clip))
    plain_params, gate_params = parameters(gated.backbone), parameters(gated.gate)
    return {
        "backbone": backbone, "clip": [clip_len, crop, crop], "gate_hidden": hidden,
        "plain_parameters": plain_params, "gate_parameters": gate_params,
        "plain_gflops_per_clip": plain_flops / 1e9, "gate_gflops_per_clip": (gated_flops - plain_flops) / 1e9,
        "parameter_increase": gate_params / plain_params, "flop_increase": gated_flops / plain_flops - 1,
    }


def gate_table(costs: list[dict]) -> str:
    rows = [[f"{c['backbone']} ({'x'.join(map(str, c['clip']))})", f"{c['plain_parameters']:,}",
             f"{c['gate_parameters']:,} (+{100 * c['parameter_increase']:.2f} %)",
             f"{c['plain_gflops_per_clip']:.3f}",
             f"{c['gate_gflops_per_clip']:.4f} (+{100 * c['flop_increase']:.3f} %)"]
            for c in costs]
    header = ["student", "params", "+ GenKD gate params", "GFLOPs/clip", "+ GenKD gate GFLOPs"]
    return markdown_table(header, rows)


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
    gate = [genkd_gate_cost(*GATE_CLIPS[name], args.num_classes) for name in ("synthetic", "arid")]
    results["genkd_gate"] = gate
    print("\nThe gate GenKD as released adds to the deployed student (a student without GenKD: none):\n")
    print(gate_table(gate))
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
