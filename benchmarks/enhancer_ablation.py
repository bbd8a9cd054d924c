"""Teacher ablation over enhancers on the generated dark video: for each enhancer, the teacher's test top-1
on the view it makes, and the test top-1 of the student distilled from that teacher (the student
always sees the original dark view, so only its teacher differs).

    python -m benchmarks.enhancer_ablation --out benchmarks/results/enhancer_ablation.json

Runs the shipped configs as a user would: configs/synthetic/enhancer.yaml trains Zero-DCE++ on the
dataset's own dark video first, then per enhancer configs/synthetic/teacher.yaml and distill.yaml
with `--data.enhancer` set, at the configs' schedule (25 epochs; fewer stop the tiny nets before they
learn the motion, around epoch 9) and one seed: about 25 minutes on a quiet 2-core CPU. A screen of
the enhancers, not a final ranking (one test video is 1.25 points of the 80).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import markdown_table, parser, quiet_lightning, working_dir, write_json
from dlkdd.cli import main as cli_main
from dlkdd.quickstart import fit_and_test

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs" / "synthetic"
# Each enhancer at the options the shipped synthetic data uses (gic) or its defaults; zero_dce gets the
# checkpoint trained at the start of the run.
ENHANCERS = {"identity": {}, "gic": {"gamma": 3.0}, "zero_dce": {}, "he": {}, "clahe": {}, "log": {}}


def run_in(folder: Path, fn):
    with working_dir(folder):
        return fn()


def report(args, settings: dict, results: dict, final: bool) -> None:
    """The table so far; written after every enhancer, so an interrupted run keeps its finished rows."""
    rows = [[name, f"{100 * r['teacher_top1']:.2f} %", f"{100 * r['student_top1']:.2f} %"]
            for name, r in results.items()]
    table = markdown_table(["enhancer (teacher's view)", "teacher top-1 (tiny_r2plus1d)",
                            "distilled student top-1 (tiny3d, original view)"], rows)
    if final:
        print(f"\nTest top-1 on the generated data, {args.epochs} epochs, seed {args.seed}, "
              f"{settings['minutes']:.1f} min:\n{table}")
    write_json(args.out, {"settings": settings, "complete": final, "results": results, "table": table})


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=REPO / "data" / "synthetic", help="the generated dataset")
    p.add_argument("--epochs", type=int, default=25, help="teacher and student epochs (configs: 25)")
    p.add_argument("--enhancer_epochs", type=int, default=8, help="Zero-DCE++ epochs (config: 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--enhancers", nargs="+", default=list(ENHANCERS), choices=list(ENHANCERS))
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the runs and checkpoints here (default: a temporary folder, removed)")
    args = p.parse_args(argv)
    quiet_lightning()
    settings = {"root": str(args.root.resolve()), "epochs": args.epochs,
                "enhancer_epochs": args.enhancer_epochs, "seed": args.seed}
    print(f"Schedule: {args.epochs} teacher/student epochs (configs: 25), {args.enhancer_epochs} "
          f"Zero-DCE++ epochs (config: 8), one seed ({args.seed}); data {settings['root']}")
    common = [f"--data.root={settings['root']}", f"--seed_everything={args.seed}",
              "--trainer.logger=false", "--trainer.enable_progress_bar=false"]
    epochs = [f"--trainer.max_epochs={args.epochs}"]
    start = time.perf_counter()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir.resolve() if args.workdir else Path(tmp)
        options = {name: dict(value) for name, value in ENHANCERS.items()}
        if "zero_dce" in args.enhancers:
            fit = run_in(work / "enhancer", lambda: cli_main(
                ["fit", "--config", str(CONFIGS / "enhancer.yaml"), *common,
                 f"--trainer.max_epochs={args.enhancer_epochs}"]))
            options["zero_dce"]["checkpoint"] = fit.trainer.checkpoint_callback.best_model_path  # absolute
            settings["zero_dce_val_brightness"] = float(fit.trainer.callback_metrics["val/brightness"])
        for name in args.enhancers:
            data = [*common, *epochs, f"--data.enhancer={name}",
                    f"--data.enhancer_options={json.dumps(options[name])}"]
            teacher_ckpt, teacher_top1 = run_in(
                work / name, lambda data=data: fit_and_test(CONFIGS / "teacher.yaml", data))
            distill = [*data, f"--model.init_args.teacher_checkpoint={teacher_ckpt}"]
            _, student_top1 = run_in(
                work / name, lambda distill=distill: fit_and_test(CONFIGS / "distill.yaml", distill))
            results[name] = {"teacher_top1": teacher_top1, "student_top1": student_top1}
            print(f"{name}: teacher {100 * teacher_top1:.2f} %, distilled student {100 * student_top1:.2f} %")
            settings["minutes"] = (time.perf_counter() - start) / 60
            report(args, settings, results, final=name == args.enhancers[-1])
    return results


if __name__ == "__main__":
    main()
