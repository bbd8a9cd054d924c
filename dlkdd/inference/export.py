"""`dlkdd export`: a checkpoint's InferenceGraph written as ONNX or TorchScript, then verified.

The file holds exactly the graph `dlkdd predict` runs in PyTorch (the enhancer when the model was
trained on the enhanced view, then the module's own forward with the backbone's normalisation inside,
then softmax unless --logits) on float (N, 3, T, crop, crop) clips in [0, 1], batch size dynamic. Its
metadata carries the clip settings and class names (dlkdd.inference.exported). Verification decodes
real clips (the user's videos, else generated dark ones), runs them through the written file and
through PyTorch, and fails when the probabilities differ by more than the tolerance.

ONNX goes through torch.onnx's TorchScript-based exporter (dynamo=False): it exports every registry
backbone with a dynamic batch and needs no onnxscript (the dynamo exporter, tried on the CLAHE teacher,
fixed its batch size).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from dlkdd.data.clip_spec import ClipSpec
from dlkdd.data.decode import decode_clip, probe
from dlkdd.data.sampling import uniform_clips
from dlkdd.data.sources import make_source
from dlkdd.inference.clip_model import ClipModel, InferenceGraph, TorchClipModel, load_clip_model
from dlkdd.inference.exported import ONNX_SUFFIX, TORCHSCRIPT_SUFFIXES, file_metadata, require
from dlkdd.parse_errors import CKPT_PATH_HELP, CommandParser
from dlkdd.video import VIDEO_SUFFIXES

HELP = """\
Export a checkpoint to ONNX or TorchScript and verify the file against PyTorch. Examples:
  dlkdd export --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt --output student.onnx
  dlkdd export --ckpt_path runs/arid/distill/checkpoints/best.ckpt --format torchscript \\
      --output student.pt --videos /data/ARID/clips/
  dlkdd predict --model_file student.onnx --data.dataset videos --data.root my_night_clips/
The file takes float32 (N, 3, clip_len, crop, crop) RGB clips in [0, 1] and returns probabilities
(--logits: logits); its clip settings and class names are in its metadata. Needs pip install -e ".[export]".
"""
FORMATS = {"onnx": ONNX_SUFFIX, "torchscript": TORCHSCRIPT_SUFFIXES[0]}
OPSET = 17
EXAMPLE_BATCH = 2  # traced at 2, not 1, so no size-1 broadcast is baked into the dynamic-batch graph


@contextmanager
def _traceable(graph: nn.Module) -> Iterator[None]:
    """LightningModules refuse `.trainer` access outside a Trainer, which tracing's attribute walk makes;
    Lightning's own to_torchscript sets this flag for the same reason."""
    lightning = [m for m in graph.modules() if hasattr(type(m), "_jit_is_scripting")]
    for m in lightning:
        m._jit_is_scripting = True
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on Python-side shape checks: shapes are fixed
            yield
    finally:
        for m in lightning:
            del m._jit_is_scripting


def export_graph(graph: InferenceGraph, spec: ClipSpec, fmt: str, output: str | Path,
                 example_batch: int = EXAMPLE_BATCH) -> Path:
    """Write `graph` (float (N, 3, T, crop, crop) -> (N, K)) to `output` with `spec` as metadata."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    graph = graph.eval()
    like = next(iter(graph.parameters()), torch.empty(0))  # the graph's device and dtype (fp16 graphs too)
    example = torch.rand(example_batch, 3, spec.clip_len, spec.crop_size, spec.crop_size, device=like.device,
                         dtype=like.dtype)
    kind = "probabilities" if graph.probabilities else "logits"
    metadata = file_metadata(spec, kind)
    try:
        with _traceable(graph):
            if fmt == "onnx":
                _write_onnx(graph, example, output, kind, metadata)
            else:
                traced = torch.jit.freeze(torch.jit.trace(graph, (example,), check_trace=False))
                torch.jit.save(traced, str(output), _extra_files=metadata)
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as err:
        what = f"backbone {spec.backbone!r}" + (f" with enhancer {spec.enhancer!r} in the graph"
                                                if spec.view == "enhanced" else "")
        other = "torchscript" if fmt == "onnx" else "onnx"
        raise ValueError(f"The {what} cannot be exported to {fmt}: {str(err).splitlines()[0]} "
                         f"Try --format {other}.") from err
    return output


def _write_onnx(graph: nn.Module, example: Tensor, output: Path, kind: str, metadata: dict[str, str]) -> None:
    onnx = require("onnx", "ONNX export")
    torch.onnx.export(graph, (example,), str(output), input_names=["video"], output_names=[kind],
                      dynamic_axes={"video": {0: "batch"}, kind: {0: "batch"}}, opset_version=OPSET,
                      dynamo=False)
    model = onnx.load(str(output))
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, str(output))


@dataclass(frozen=True)
class Verification:
    clips: int
    source: str  # where the clips came from
    max_abs_diff: float  # of the probabilities
    top1_agree: int  # clips whose top-1 class is the same in both
    top1_ties: int  # disagreeing clips whose reference top-2 probabilities are within the tolerance

    def passed(self, tolerance: float) -> bool:
        return self.max_abs_diff <= tolerance and self.top1_agree + self.top1_ties == self.clips


def verify(exported: ClipModel, reference: ClipModel, frames: Tensor, tolerance: float,
           source: str) -> Verification:
    """Both runners' probabilities on the same uint8 clips."""
    got, expected = exported.probabilities(frames), reference.probabilities(frames)
    top2 = expected.topk(min(2, expected.shape[1]), dim=1).values
    tie = (top2[:, 0] - top2[:, -1]) <= tolerance if top2.shape[1] > 1 else torch.zeros(len(got), dtype=bool)
    same = got.argmax(dim=1) == expected.argmax(dim=1)
    return Verification(len(frames), source, float((got - expected).abs().max()), int(same.sum()),
                        int((~same & tie).sum()))


def clips_from_videos(spec: ClipSpec, videos: list[Path]) -> Tensor:
    """The centre clip of each video (the evaluation pipeline's single-clip sampling), decoded at the
    model's frame size: uint8 (N, T, H, W, 3)."""
    clips = []
    for path in videos:
        indices = uniform_clips(probe(path).num_frames, spec.clip_len, spec.frame_stride, 1)[0]
        clips.append(torch.from_numpy(decode_clip(path, indices, spec.frame_size)))
    return torch.stack(clips)


def find_videos(root: Path, count: int) -> list[Path]:
    if not root.exists():
        raise FileNotFoundError(f"--videos {root}: no such file or folder. Pass a folder of videos, a text "
                                "file of paths, or one video; without --videos generated clips are used.")
    if root.suffix.lower() in VIDEO_SUFFIXES:
        return [root]
    return [item.path for item in make_source("videos", root, 1).items("test")][:count]


def generated_clips(spec: ClipSpec, count: int) -> Tensor:
    """Dark clips from the synthetic generator, written as real mp4 files and decoded like any video."""
    from dlkdd.synthetic.dataset import SyntheticConfig, generate_dataset

    even = [max(16, v + v % 2) for v in spec.frame_size]
    config = SyntheticConfig(train_per_class=0, val_per_class=0, test_per_class=1,
                             num_frames=max(2, spec.span), height=even[0], width=even[1], workers=1)
    with tempfile.TemporaryDirectory(prefix="dlkdd-export-") as folder:
        generate_dataset(folder, config)
        return clips_from_videos(spec, find_videos(Path(folder), count))


def describe(path: Path, spec: ClipSpec, output_kind: str) -> str:
    lines = [f"  input        float32 (N, 3, {spec.clip_len}, {spec.crop_size}, {spec.crop_size}) RGB in "
             "[0, 1], N dynamic",
             f"  output       {output_kind} (N, {len(spec.class_names)})",
             f"  clips        clip_len {spec.clip_len}, frame_stride {spec.frame_stride}, frame_size "
             f"{spec.frame_size[0]}x{spec.frame_size[1]}, crop_size {spec.crop_size}",
             f"  view         {spec.view}" + (f" (enhancer {spec.enhancer} {spec.enhancer_options or ''} "
                                             "inside the graph)" if spec.view == "enhanced" else ""),
             f"  backbone     {spec.backbone}",
             f"  classes      {', '.join(spec.class_names)}"]
    if spec.event_settings:
        lines.append("  events       " + ", ".join(f"{k} {v}" for k, v in spec.event_settings.items())
                     + " (calibrated: `dlkdd watch` uses them)")
    return "\n".join(lines)


def build_parser() -> CommandParser:
    parser = CommandParser(prog="dlkdd export", description=HELP)
    parser.add_argument("--ckpt_path", type=Path, required=True, help=CKPT_PATH_HELP)
    parser.add_argument("--format", choices=list(FORMATS), default=None,
                        help="default: from --output's extension (.onnx, .pt/.ts), else onnx")
    parser.add_argument("--output", type=Path | None, default=None,
                        help="the file to write (default: the checkpoint's name with .onnx or .pt)")
    parser.add_argument("--logits", action="store_true", help="the graph returns logits, not probabilities")
    parser.add_argument("--device", default="cpu", help="export and verify on this device (cpu, cuda)")
    parser.add_argument("--videos", type=Path | None, default=None,
                        help="verify on clips of these videos (folder, text file of paths, or one video); "
                             "default: generated dark clips")
    parser.add_argument("--num_clips", type=int, default=8, help="clips to verify on")
    parser.add_argument("--tolerance", type=float | None, default=None,
                        help="largest allowed |p_exported - p_pytorch| (default 1e-4 on cpu, 2e-3 on cuda, "
                             "where PyTorch's convolutions use TF32)")
    return parser


def main(argv: list[str] | None = None) -> Verification:
    args = build_parser().parse_args(argv)
    output = args.output
    fmt = args.format or ("torchscript" if output and output.suffix in TORCHSCRIPT_SUFFIXES else "onnx")
    if output is None:
        output = args.ckpt_path.with_suffix(FORMATS[fmt])
    elif output.suffix not in (TORCHSCRIPT_SUFFIXES if fmt == "torchscript" else (ONNX_SUFFIX,)):
        raise ValueError(f"--output {output}: a {fmt} file must end in "
                         f"{' or '.join(TORCHSCRIPT_SUFFIXES) if fmt == 'torchscript' else ONNX_SUFFIX}, "
                         "which is how `dlkdd predict --model_file` recognises it.")
    if fmt == "onnx":  # fail before the (long) export when the extra is missing
        require("onnx", "ONNX export")
        require("onnxruntime", "ONNX export")
    tolerance = args.tolerance if args.tolerance is not None else (1e-4 if args.device == "cpu" else 2e-3)

    torch_model = TorchClipModel.from_checkpoint(args.ckpt_path, args.device, probabilities=not args.logits)
    spec = torch_model.spec
    export_graph(torch_model.graph, spec, fmt, output)
    exported = load_clip_model(output, args.device)
    print(f"Exported {args.ckpt_path} -> {output} ({fmt}, {output.stat().st_size / 2**20:.1f} MiB, "
          f"dlkdd {file_metadata(spec, '')['dlkdd_version']})")
    print(describe(output, exported.spec, exported.output))

    if args.videos is not None:
        videos = find_videos(args.videos, args.num_clips)
        frames, source = clips_from_videos(spec, videos), f"videos under {args.videos}"
    else:
        frames, source = generated_clips(spec, args.num_clips), "generated dark videos"
    graph = torch_model.graph
    reference = TorchClipModel(InferenceGraph(graph.module, graph.enhancer), spec, args.device)
    result = verify(exported, reference, frames, tolerance, source)
    print(f"Verified on {result.clips} clips of {source}: max |p_{fmt} - p_pytorch| = "
          f"{result.max_abs_diff:.2e} (tolerance {tolerance:.0e}); top-1 agrees on {result.top1_agree}/"
          f"{result.clips}" + (f" (+{result.top1_ties} ties within the tolerance)" if result.top1_ties
                               else ""))
    if not result.passed(tolerance):
        raise ValueError(f"{output} does not match the checkpoint {args.ckpt_path}: max probability "
                         f"difference {result.max_abs_diff:.2e} > --tolerance {tolerance:.0e}, or top-1 "
                         f"differs on {result.clips - result.top1_agree - result.top1_ties} clips. The file "
                         "is kept for inspection; do not deploy it. Export on the device you will run on "
                         "(--device), or try the other --format.")
    return result

