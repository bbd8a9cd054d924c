"""How dark is the dark? Per-clip statistics of a folder of real dark clips beside the generator's default
dark set (dlkdd.synthetic.dataset), printed side by side, written to JSON and drawn for the docs.

    python -m benchmarks.darkness --real ../shared/real/arid6 \\
        --out benchmarks/results/darkness.json --figure benchmarks/results/darkness.png
    python -m benchmarks.darkness --real /data/my_night_videos --generated data/synthetic   # reuse a set

Per clip, on its first 48 frames (all when shorter) decoded at their own size to RGB in [0, 1]; luma is
BT.601 Y' = 0.299 R + 0.587 G + 0.114 B of those (gamma-encoded) values:

- luma_mean, luma_median, luma_p99: the level, and the highlights (lamps, lit windows) at the top;
- luma_sd: spread over all pixels and frames (spatial and temporal);
- below_0.02, above_0.5: fraction of pixels in crushed black, and in bright light sources;
- temporal_noise: in still pixels (the calmest 30 % by mean absolute frame difference), the mean over
  them of luma's standard deviation over time;
- chroma_sd: standard deviation of Cb and Cr (BT.601, same scale as luma), averaged;
- blue_red: mean blue over mean red (colour cast);
- blockiness: mean absolute luma step across the 8-pixel grid over the mean step elsewhere (1: none;
  codec blocks make it larger).

Each statistic is summarised by its mean over clips and its 10th-90th percentile range. A generated
statistic is "within tolerance" of the real one when its mean is within 25 % and the two 10-90 % ranges
overlap (issue 33's criterion).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import markdown_table, parser, write_json
from dlkdd.data.decode import decode_clip, probe
from dlkdd.synthetic.dataset import MARKER_NAME, SyntheticConfig, generate_dataset
from dlkdd.video import VIDEO_SUFFIXES, list_videos

FRAMES = 48
STILL_FRACTION = 0.3
TOLERANCE = 0.25
STATISTICS = ("luma_mean", "luma_median", "luma_p99", "luma_sd", "below_0.02", "above_0.5",
              "temporal_noise", "chroma_sd", "blue_red", "blockiness")


def read_frames(path: Path, frames: int = FRAMES) -> np.ndarray:
    """The first `frames` frames (fewer when the clip is shorter) at the video's own size, uint8 RGB."""
    info = probe(path)
    return decode_clip(path, range(min(frames, info.num_frames)), (info.height, info.width))


def _grid_step_ratio(luma: np.ndarray, axis: int) -> float:
    steps = np.abs(np.diff(luma, axis=axis))  # step k is between pixel k and k + 1
    on_grid = (np.arange(steps.shape[axis]) % 8) == 7
    index = [slice(None)] * steps.ndim
    index[axis] = on_grid
    across = steps[tuple(index)].mean()
    index[axis] = ~on_grid
    return float((across + 1e-6) / (steps[tuple(index)].mean() + 1e-6))  # flat both ways: 1


def clip_statistics(video: np.ndarray) -> dict[str, float]:
    """The statistics of the module docstring for one clip, uint8 (T, H, W, 3)."""
    rgb = video.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    calm = np.abs(np.diff(luma, axis=0)).mean(axis=0)  # (H, W) mean frame difference per pixel
    still = calm <= np.quantile(calm, STILL_FRACTION)
    cb, cr = 0.564 * (b - luma), 0.713 * (r - luma)
    return {
        "luma_mean": float(luma.mean()),
        "luma_median": float(np.median(luma)),
        "luma_p99": float(np.quantile(luma, 0.99)),
        "luma_sd": float(luma.std()),
        "below_0.02": float((luma < 0.02).mean()),
        "above_0.5": float((luma > 0.5).mean()),
        "temporal_noise": float(luma.std(axis=0)[still].mean()),
        "chroma_sd": float((cb.std() + cr.std()) / 2),
        "blue_red": float(b.mean() / max(float(r.mean()), 1e-6)),
        "blockiness": (_grid_step_ratio(luma, 2) + _grid_step_ratio(luma, 1)) / 2,
    }


def clips_statistics(paths: list[Path], frames: int = FRAMES) -> dict[str, list[float]]:
    """Statistic -> one value per clip of `paths`."""
    values: dict[str, list[float]] = {name: [] for name in STATISTICS}
    for path in paths:
        for name, value in clip_statistics(read_frames(path, frames)).items():
            values[name].append(value)
    return values


def folder_statistics(root: Path, frames: int = FRAMES) -> dict[str, list[float]]:
    """Statistic -> one value per clip of every video under `root`."""
    return clips_statistics(list_videos(root), frames)


def summary(values: list[float]) -> dict[str, float]:
    p10, p90 = np.quantile(values, [0.1, 0.9])
    return {"mean": float(np.mean(values)), "p10": float(p10), "p90": float(p90)}


def compare(real: dict[str, float], generated: dict[str, float]) -> dict[str, object]:
    # None: the real mean is 0 and the generated one is not (no ratio to state).
    ratio = generated["mean"] / real["mean"] if real["mean"] else (1.0 if not generated["mean"] else None)
    overlap = generated["p10"] <= real["p90"] and real["p10"] <= generated["p90"]
    within = ratio is not None and abs(ratio - 1) <= TOLERANCE and overlap
    return {"ratio": ratio, "ranges_overlap": overlap, "within_tolerance": within}


def _cell(s: dict[str, float]) -> str:
    return f"{s['mean']:.4g} ({s['p10']:.3g}-{s['p90']:.3g})"


def draw(figure: Path, real_values: dict, generated_values: dict, samples: dict[str, np.ndarray]) -> None:
    """Sample frames (as decoded and x4 brighter) above one panel per statistic (10-90 % bar, mean dot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 8.2), constrained_layout=True)
    grid = fig.add_gridspec(3, 5, height_ratios=[1.25, 1, 1])
    for (name, frame), columns in zip(samples.items(), ((0, 1), (3, 4)), strict=True):
        brighter = np.clip(frame.astype(np.float32) * 4, 0, 255).astype(np.uint8)
        shown = ((f"{name}, as decoded", frame), (f"{name}, x4", brighter))
        for column, (title, image) in zip(columns, shown, strict=True):
            ax = fig.add_subplot(grid[0, column])
            ax.imshow(image)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    note = fig.add_subplot(grid[0, 2])
    note.axis("off")
    note.text(0.5, 0.5, "left: real (ARID v1.0, CC BY 4.0)\nright: generated default dark set\n\n"
              "panels: mean over clips (dot)\nand 10-90 % range (bar)", ha="center", va="center", fontsize=9)
    colours = {"real": "#1f77b4", "generated": "#d62728"}
    for k, name in enumerate(STATISTICS):
        ax = fig.add_subplot(grid[1 + k // 5, k % 5])
        pairs = (("real", real_values[name]), ("generated", generated_values[name]))
        for row, (label, values) in enumerate(pairs):
            s = summary(values)
            ax.plot([s["p10"], s["p90"]], [row, row], color=colours[label], linewidth=6, alpha=0.45)
            ax.plot([s["mean"]], [row], "o", color=colours[label])
        ax.set_yticks([0, 1], ["real", "gen."], fontsize=8)
        ax.set_ylim(-0.7, 1.7)
        ax.set_title(name, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    print(f"wrote {figure}")


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--real", type=Path, required=True,
                   help="a folder of real dark clips (searched recursively)")
    p.add_argument("--generated", type=Path, default=None,
                   help="a generated dark set (default: generate SyntheticConfig() in a temp folder)")
    p.add_argument("--frames", type=int, default=FRAMES)
    p.add_argument("--figure", type=Path, default=None, help="also draw the comparison to this PNG")
    args = p.parse_args(argv)
    if not args.real.is_dir() or not list_videos(args.real):
        p.error(f"--real {args.real}: no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) under that folder; "
                "point it at a folder of dark clips (e.g. ../shared/real/arid6)")
    with tempfile.TemporaryDirectory(prefix="dlkdd_darkness_") as scratch:
        generated_root = args.generated
        if generated_root is None or not (generated_root / MARKER_NAME).is_file():
            generated_root = generate_dataset(Path(scratch) / "synthetic", SyntheticConfig())
        real_values = folder_statistics(args.real, args.frames)
        generated_values = folder_statistics(generated_root, args.frames)
        samples = {"real": read_frames(list_videos(args.real)[0], 1)[0],
                   "generated": read_frames(list_videos(generated_root)[0], 1)[0]}
    rows, results = [], {}
    for name in STATISTICS:
        real, generated = summary(real_values[name]), summary(generated_values[name])
        results[name] = {"real": real, "generated": generated, **compare(real, generated)}
        r = results[name]
        rows.append([name, _cell(real), _cell(generated), "-" if r["ratio"] is None else f"{r['ratio']:.2f}",
                     "yes" if r["within_tolerance"] else ("ranges overlap" if r["ranges_overlap"] else "no")])
    counts = {"real": len(real_values["luma_mean"]), "generated": len(generated_values["luma_mean"])}
    print(f"{counts['real']} real clips ({args.real}) vs {counts['generated']} generated "
          f"(SyntheticConfig() defaults), first {args.frames} frames each; mean (10-90 %):\n")
    print(markdown_table(["statistic", "real", "generated", "gen / real", "within tolerance"], rows))
    figures = {"real": str(args.real), "generated": "SyntheticConfig() default dark set",
               "frames": args.frames, "clips": counts, "tolerance": TOLERANCE, "statistics": results}
    write_json(args.out, figures)
    if args.figure:
        draw(args.figure, real_values, generated_values, samples)
    return figures


if __name__ == "__main__":
    main()
