"""GenKD ablation on the generated dark video: student top-1 with no distillation, logit KD, GenKD as
released, dlkdd's GenKD mimic variant, and logit KD + GenKD as released, over seeds; and the training time
per batch of each distillation relative to logit KD.

    python -m benchmarks.genkd_ablation --out benchmarks/results/genkd_ablation.json

One teacher (seed 0) and its GenKD phase 1 are trained once and shared by every variant and seed, so the
spread over seeds is the students' own. Every student gets --student-epochs passes of the student over the
training data: GenKD as released alternates whole epochs, so it runs 2 x that many Lightning epochs (a CVAE
epoch before each student epoch). "GenKD released" and "GenKD mimic" are GenKD alone (alpha 1.0: no logit
KD, as released); the mimic variant keeps its own settings (AdamW at the config's lr, CVAE lr 1e-3).
The reconstruction ramp is the configs' 20 epochs. Defaults: 25 epochs each, seeds 0-4 (27 fits, hours on a
2-core CPU). The settings are printed and stored with the figures; --teacher-checkpoint reuses a trained
teacher.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import lightning as L
import torch
import yaml
from torch.utils.data import DataLoader

from benchmarks.common import (
    interleaved_times,
    markdown_table,
    mean_and_spread,
    parser,
    working_dir,
    write_json,
)
from dlkdd.cli import main as cli_main
from dlkdd.data import DarkVideoDataModule
from dlkdd.models import DistillModule
from dlkdd.models.genkd import GenKDOptions
from dlkdd.quickstart import fit_and_test

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "synthetic"
QUIET = [
    "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"
]
# dlkdd's own GenKD variant with the settings it shipped with before the released one was added.
MIMIC = ["--model.init_args.genkd.variant=mimic", "--model.init_args.genkd.cvae_lr=0.001",
         "--trainer.check_val_every_n_epoch=1"]
# name -> (config, overrides, Lightning epochs per student epoch); the teacher checkpoint is added per
# variant.
VARIANTS = {
    "no distillation": ("baseline.yaml", [], 1),
    "logit KD": ("distill.yaml", [], 1),
    "GenKD released": ("distill_genkd.yaml", ["--model.init_args.alpha=1.0"], 2),
    "GenKD mimic": ("distill_genkd.yaml", ["--model.init_args.alpha=1.0", *MIMIC], 1),
    "logit KD + GenKD released": ("distill_genkd.yaml", [], 2),
}


def train_teacher(
    work: Path, common: list[str], epochs: int, phase1_epochs: int, trained: str | None
) -> tuple[str, str, float]:
    """(teacher checkpoint, phase-1 checkpoint, teacher test top-1), all with seed 0; `trained`: a teacher
    checkpoint of teacher.yaml to reuse instead of fitting one (it is tested all the same)."""
    with working_dir(work / "teacher"):
        if trained is None:
            teacher_args = [*common, f"--trainer.max_epochs={epochs}"]
            teacher, teacher_top1 = fit_and_test(CONFIGS / "teacher.yaml", teacher_args)
        else:
            teacher = trained
            config = str(CONFIGS / "teacher.yaml")
            tested = cli_main(["test", "--config", config, *common, "--ckpt_path", trained])
            teacher_top1 = float(tested.trainer.callback_metrics["test/top1"])
    with working_dir(work / "teacher_genkd"):
        phase1 = [*common, f"--trainer.max_epochs={phase1_epochs}", f"--model.init_args.pretrained={teacher}"]
        phase1_ckpt, _ = fit_and_test(CONFIGS / "teacher_genkd.yaml", phase1)
    return teacher, phase1_ckpt, teacher_top1


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
    p.add_argument("--data-root", default="data/synthetic", help="generated on the first run when missing")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4],
                   help="student seeds; none (a bare --seeds) measures the step times only")
    p.add_argument("--teacher-epochs", type=int, default=25)
    p.add_argument("--teacher-checkpoint", default=None,
                   help="reuse this trained teacher.yaml checkpoint (same data) instead of fitting a teacher")
    p.add_argument("--phase1-epochs", type=int, default=5)
    p.add_argument("--student-epochs", type=int, default=25)
    p.add_argument("--timing-steps", type=int, default=16)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                   help="the student variants to train (default: all)")
    args = p.parse_args(argv)
    data_root = str(Path(args.data_root).resolve())
    settings = {
        "data_root": data_root,
        "seeds": args.seeds,
        "teacher": "tiny_r2plus1d, enhanced view, seed 0, shared by every variant and seed",
        "teacher_epochs": "reused" if args.teacher_checkpoint else args.teacher_epochs,
        "teacher_checkpoint": args.teacher_checkpoint,
        "phase1_epochs": args.phase1_epochs,
        "student": "tiny3d, original view",
        "student_epochs": args.student_epochs,
        "variants": {name: VARIANTS[name] for name in args.variants},
        "cpu_threads": torch.get_num_threads(),
    }
    print("settings:", settings)
    common = [*QUIET, f"--data.root={data_root}"]
    with tempfile.TemporaryDirectory(prefix="genkd_ablation_") as tmp:
        work = Path(tmp)
        trained = str(Path(args.teacher_checkpoint).resolve()) if args.teacher_checkpoint else None
        teacher, phase1, teacher_top1 = train_teacher(
            work, common, args.teacher_epochs, args.phase1_epochs, trained
        )
        print(f"teacher test top-1 {100 * teacher_top1:.2f} %")
        seconds = step_times(teacher, phase1, data_root, args.timing_steps)
        print("seconds per training batch per student epoch:", seconds)
        top1: dict[str, list[float]] = {name: [] for name in args.variants}
        for seed in args.seeds:
            for name in args.variants:
                config, extra, epochs_per_student_epoch = VARIANTS[name]
                overrides = [*common, *extra, f"--seed_everything={seed}",
                             f"--trainer.max_epochs={epochs_per_student_epoch * args.student_epochs}"]
                if config == "distill.yaml":
                    overrides.append(f"--model.init_args.teacher_checkpoint={teacher}")
                elif config == "distill_genkd.yaml":
                    overrides.append(f"--model.init_args.teacher_checkpoint={phase1}")
                with working_dir(work / f"{name.replace(' ', '_')}-seed{seed}"):
                    _, result = fit_and_test(CONFIGS / config, overrides)
                top1[name].append(result)
                print(f"seed {seed}  {name:<26} test top-1 {100 * result:.2f} %", flush=True)

    relative = {name: s / seconds["logit KD"] for name, s in seconds.items()}
    rows = []
    for name, values in top1.items():
        if not values:  # --seeds with none: step times only
            continue
        mean, spread = mean_and_spread([100 * v for v in values])
        rows.append([name, f"{mean:.2f} ± {spread:.2f}", ", ".join(f"{100 * v:.2f}" for v in values)])
    table = markdown_table(["student (tiny3d, original view)", "test top-1 % (mean ± sd)", "per seed"], rows)
    timing = markdown_table(
        ["training (per batch, per student epoch)", "ms", "relative to logit KD"],
        [[name, f"{1000 * s:.1f}", f"{s / seconds['logit KD']:.2f}x"] for name, s in seconds.items()],
    )
    print(f"\nTeacher (tiny_r2plus1d, enhanced view) test top-1: {100 * teacher_top1:.2f} %")
    print(f"\n{table}\n\n{timing}")
    results = {
        "settings": settings,
        "teacher_test_top1": teacher_top1,
        "student_test_top1": top1,
        "step_seconds": seconds,
        "step_relative_to_logit_kd": relative,
        "markdown": f"{table}\n\n{timing}",
    }
    write_json(args.out, results)
    if args.out is not None:
        args.out.with_suffix(".md").write_text(f"{table}\n\n{timing}\n")
    return results


if __name__ == "__main__":
    main()
