"""GenKD ablation on the generated dark video: student top-1 with no distillation, logit KD, GenKD as
released, dlkdd's GenKD mimic variant, logit KD + GenKD as released, and two probes of the released recipe
(its procedure with the GenKD losses off; logit KD + GenKD with a 10x student lr), over seeds; and the
training time per batch of each distillation relative to logit KD.

    python -m benchmarks.genkd_ablation --out benchmarks/results/genkd_ablation.json

The students are rows of the accuracy study (benchmarks/accuracy_study.py), fitted through it into its
results file (--study), so a figure the study has measured at the same schedule is not fitted again:
each seed has its own teacher (teacher.yaml, enhanced view) and GenKD phase 1 (teacher_genkd.yaml), from
the bright-pretrained weights, and every student starts from the pretrained tiny3d and gets the configs'
20 passes over the training data (the study's own GenKD row trains 60, its --genkd_epochs; GenKD as
released alternates whole epochs: 40 Lightning epochs, a CVAE epoch before each student epoch; the mimic
variant: 20). "GenKD released" and "GenKD mimic" are GenKD alone (alpha 1.0: no logit KD, as
released); the mimic variant keeps its own settings (AdamW at the config's lr, CVAE lr 1e-3). The step
times use seed 0's teacher and phase 1.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import yaml
from torch.utils.data import DataLoader

from benchmarks import accuracy_study
from benchmarks.common import interleaved_times, markdown_table, mean_and_spread, parser, write_json
from dlkdd.data import DarkVideoDataModule
from dlkdd.models import DistillModule
from dlkdd.models.genkd import GenKDOptions

CONFIGS = accuracy_study.CONFIGS
VARIANTS = {  # ablation name -> its row of the accuracy study
    "no distillation": "student",
    "logit KD": "student_kd",
    "GenKD released": "genkd_alone",
    "GenKD mimic": "genkd_mimic",
    "logit KD + GenKD released": "genkd",
    # Two probes of the released recipe at this budget: its procedure with the feature losses off, and
    # logit KD + GenKD released with a 10x student lr (docs/results.md, "GenKD ablation").
    "released procedure, GenKD losses off": "genkd_control",
    "logit KD + GenKD released, student lr 1e-2": "genkd_fast",
}


def step_times(teacher: str, phase1: str, data_root: str, steps: int) -> dict[str, float]:
    """Seconds per training batch per student epoch of logit KD and of each GenKD variant (the released one:
    its CVAE step plus its student step, as it passes over the data twice per student epoch), measured
    interleaved in one run.

    Each call is a real Lightning fit on in-memory batches (no decoding); the fixed cost of a fit (setup,
    optimizer) cancels in the difference between a fit of 4 + `steps` batches and one of 4 batches."""
    data = DarkVideoDataModule(root=data_root, **_data_options(), num_workers=0)
    loaded = next(iter(data.train_dataloader()))
    views = data.views(loaded["video"], train=True, views={"original", "enhanced"})
    batch = {**views, "label": loaded["label"], "num_views": 1}
    names = data.class_names
    mimic = GenKDOptions(variant="mimic", cvae_lr=1e-3)
    modules = {  # name -> (module, Lightning epochs per student epoch)
        "logit KD": (DistillModule(data.num_classes, teacher, class_names=names), 1),
        "logit KD + GenKD released": (
            DistillModule(data.num_classes, phase1, class_names=names, genkd=GenKDOptions(hidden=128)), 2),
        "logit KD + GenKD mimic": (
            DistillModule(data.num_classes, phase1, class_names=names, genkd=mimic, lr=0.003), 1),
    }

    def fit(module: DistillModule, batches: int, epochs: int):
        def run() -> None:
            trainer = L.Trainer(
                max_epochs=epochs, limit_train_batches=batches, limit_val_batches=0, num_sanity_val_steps=0,
                logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, accelerator="cpu",
            )
            trainer.fit(module, DataLoader([batch] * batches, batch_size=None))
        return run

    candidates = {}
    for name, (module, epochs) in modules.items():
        candidates[f"{name}, short"] = fit(module, 4, epochs)
        candidates[f"{name}, long"] = fit(module, 4 + steps, epochs)
    medians = interleaved_times(candidates, rounds=5, warmup=1)
    return {name: (medians[f"{name}, long"] - medians[f"{name}, short"]) / steps for name in modules}


def _data_options() -> dict:
    options = yaml.safe_load((CONFIGS / "data.yaml").read_text())
    return {k: v for k, v in options.items() if k not in {"root", "num_workers"}}


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--study", type=Path, default=Path("benchmarks/results/accuracy_study.json"),
                   help="the accuracy study's results file: read, and extended with the figures it lacks")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4],
                   help="student seeds; none (a bare --seeds) measures the step times only")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                   help="the student variants (default: all)")
    p.add_argument("--timing-steps", type=int, default=16, help="batches per timed fit; 0: no step times")
    p.add_argument("--root", type=Path, default=Path("data/synthetic"))
    p.add_argument("--workdir", type=Path, default=Path("runs/accuracy_study"),
                   help="the accuracy study's work folder (seed 0's teacher and phase 1 are timed from it)")
    p.epilog = "Any other option goes to every fit, e.g. --data.num_workers=0"
    args, extra = p.parse_known_args(argv)
    top1: dict[str, dict[str, float]] = {name: {} for name in args.variants}
    if args.seeds:
        study = accuracy_study.main([
            "--out", str(args.study), "--rows", *(VARIANTS[v] for v in args.variants),
            "--inits", "pretrained", "--light_levels", "1", "--seeds", *map(str, args.seeds),
            "--root", str(args.root), "--workdir", str(args.workdir),
            "--genkd_epochs", "0", *extra])  # every student the configs' 20 passes (the study: GenKD 60)
        measured = study["figures"]["1"]["pretrained"]
        top1 = {name: {s: measured[VARIANTS[name]][str(s)] for s in args.seeds} for name in args.variants}
        for name, seeds in top1.items():
            print(f"{name:<26} " + "  ".join(f"seed {s}: {100 * v:.2f} %" for s, v in seeds.items()))

    seconds: dict[str, float] = {}
    if args.timing_steps:
        cell = args.workdir.resolve() / "light1" / "pretrained" / "seed0" / "runs"
        teacher, phase1 = cell / "teacher_enhanced" / "best.ckpt", cell / "genkd_teacher" / "best.ckpt"
        for path in (teacher, phase1):
            if not path.is_file():
                raise SystemExit(f"dlkdd: error: the step times need seed 0's {path}, which the accuracy "
                                 f"study writes; run this with --seeds 0 and a fresh --study, or with "
                                 f"--timing-steps 0.")
        seconds = step_times(str(teacher), str(phase1), str(args.root.resolve()), args.timing_steps)
        print("seconds per training batch per student epoch:", seconds)

    rows = []
    for name, seeds in top1.items():
        if seeds:
            mean, spread = mean_and_spread([100 * v for v in seeds.values()])
            per_seed = ", ".join(f"{100 * v:.1f}" for v in seeds.values())
            rows.append([name, f"{mean:.2f} ± {spread:.2f}", per_seed])
    parts = []
    if rows:
        parts.append(markdown_table(
            ["student (tiny3d, dark view, pretrained start)", "test top-1 % (mean ± sd)", "per seed"], rows))
    if seconds:
        parts.append(markdown_table(
            ["training (per batch, per student epoch)", "ms", "relative to logit KD"],
            [[name, f"{1000 * s:.1f}", f"{s / seconds['logit KD']:.2f}x"] for name, s in seconds.items()]))
    markdown = "\n\n".join(parts)
    print(f"\n{markdown}")
    results = {
        "settings": {"study": str(args.study), "seeds": args.seeds,
                     "rows": {v: VARIANTS[v] for v in args.variants},
                     "timing_steps": args.timing_steps, "cpu_threads": torch.get_num_threads()},
        "student_test_top1": top1,
        "step_seconds": seconds,
        "step_relative_to_logit_kd": {n: s / seconds["logit KD"] for n, s in seconds.items()},
        "markdown": markdown,
    }
    write_json(args.out, results)
    if args.out is not None:
        args.out.with_suffix(".md").write_text(f"{markdown}\n")
    return results


if __name__ == "__main__":
    main()
