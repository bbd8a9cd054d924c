"""Export latency: the student as PyTorch eager, TorchScript (torch.jit) and ONNX Runtime, on the same
clips, interleaved in one run, as ratios to eager; clips/s and the exported files' sizes.

    python -m benchmarks.export_latency                                  # both presets, batch 1 and 16
    python -m benchmarks.export_latency --presets synthetic --batch_sizes 1 16
    python -m benchmarks.export_latency --presets arid --batch_sizes 1 4  # R(2+1)D-34 at 32 x 112^2
    python -m benchmarks.export_latency --device cuda --fp16             # on a GPU (onnxruntime-gpu)

Each runtime runs the file `dlkdd export` writes (dlkdd.inference.export.export_graph, with random
weights: latency does not depend on them) through the runner `dlkdd predict --model_file` uses. On CUDA
the ONNX Runtime figures include copying the clip to and from the host (the runner takes and returns
CPU arrays).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmarks.common import interleaved_times, parser, report
from dlkdd.data.clip_spec import ClipSpec
from dlkdd.inference import InferenceGraph, load_clip_model
from dlkdd.inference.export import export_graph
from dlkdd.models import TeacherModule

PRESETS = {
    # name: (backbone, clip_len, crop_size, classes): the synthetic student, and the ARID student clip
    "synthetic": ("tiny3d", 8, 56, 10),
    "arid": ("r2plus1d_34", 32, 112, 11),
}
RUNTIMES = {"eager": None, "torchscript": ".pt", "onnxruntime": ".onnx"}


def bench_preset(preset: str, batch_sizes: list[int], rounds: int, warmup: int, device: str, fp16: bool,
                 folder: Path) -> dict:
    backbone, clip_len, crop, classes = PRESETS[preset]
    dtype = torch.float16 if fp16 else torch.float32
    module = TeacherModule(classes, backbone=backbone, view="original").eval()
    graph = InferenceGraph(module).to(device, dtype).eval()
    spec = ClipSpec(clip_len=clip_len, frame_stride=1, frame_size=(crop, crop), crop_size=crop,
                    class_names=[str(k) for k in range(classes)], backbone=backbone)
    runners, sizes = {}, {}
    for name, suffix in RUNTIMES.items():
        if suffix is None:
            continue
        path = export_graph(graph, spec, "onnx" if suffix == ".onnx" else "torchscript",
                            folder / f"{preset}{suffix}")
        runners[name] = load_clip_model(path, device)
        sizes[name] = round(path.stat().st_size / 2**20, 2)
    sizes["checkpoint weights"] = round(sum(t.numel() * t.element_size()
                                            for t in module.state_dict().values()) / 2**20, 2)

    def call(name: str, video: torch.Tensor):
        return graph(video) if name == "eager" else runners[name].run_graph(video)

    result: dict = {"backbone": backbone, "clip": [clip_len, crop, crop], "file_mib": sizes, "batches": {}}
    for batch in batch_sizes:
        video = torch.rand(batch, 3, clip_len, crop, crop, device=device, dtype=dtype)
        with torch.inference_mode():
            outputs = {name: call(name, video).float().cpu() for name in RUNTIMES}
            times = interleaved_times({name: (lambda n=name, v=video: call(n, v)) for name in RUNTIMES},
                                      rounds=rounds, warmup=warmup, device=device)
        eager = times["eager"]
        result["batches"][batch] = {
            name: {"ms": round(1000 * t, 2), "clips_per_s": round(batch / t, 1),
                   "ratio_to_eager": round(t / eager, 3),
                   "max_abs_diff_to_eager": float((outputs[name] - outputs["eager"]).abs().max())}
            for name, t in times.items()}
    return result


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=["synthetic", "arid"])
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 16])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2, help="untimed calls of each runtime first")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true", help="half precision graph and files (CUDA only)")
    args = p.parse_args(argv)
    if args.fp16 and args.device == "cpu":
        p.error("--fp16 is for --device cuda")
    results: dict = {"device": args.device, "fp16": args.fp16, "rounds": args.rounds, "warmup": args.warmup,
                     "presets": {}}
    with tempfile.TemporaryDirectory(prefix="dlkdd-export-bench-") as folder:
        for preset in args.presets:
            results["presets"][preset] = bench_preset(preset, args.batch_sizes, args.rounds, args.warmup,
                                                      args.device, args.fp16, Path(folder))
    rows = []
    for r in results["presets"].values():
        for batch, by_runtime in r["batches"].items():
            for name, m in by_runtime.items():
                size = r["file_mib"].get(name, r["file_mib"]["checkpoint weights"])
                rows.append([f"{r['backbone']} {'x'.join(map(str, r['clip']))}", batch, name, m["ms"],
                             m["clips_per_s"], f"{m['ratio_to_eager']:.2f}",
                             f"{m['max_abs_diff_to_eager']:.1e}", size])
    header = ["model, clip", "batch", "runtime", "ms / batch", "clips/s", "latency / eager",
              "max |p - p_eager|", "file MiB"]
    return report(args.out, results, header, rows)


if __name__ == "__main__":
    main()
