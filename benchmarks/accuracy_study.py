"""Accuracy study on the generated dark video, in the structure of the paper's ablation: the teacher on
the enhanced view, the student alone on the original view, the student with logit KD, the two-stream
model (both views, twice the cost), and the students fed the enhanced view at test time. Mean and
spread over seeds (the model seed; the dataset is the same generated one).

    python -m benchmarks.accuracy_study --out benchmarks/results/accuracy_study.json

Runs the shipped configs/synthetic/*.yaml through the real CLI (fit, then test of the best checkpoint):
4 fits per seed, about 8 minutes per seed on a quiet 2-core CPU. Fewer --epochs than the configs' 25
cut the run short before the tiny nets learn the motion (they learn late, around epoch 9 of 25).
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks.common import (
    markdown_table,
    mean_and_spread,
    parser,
    quiet_lightning,
    working_dir,
    write_json,
)
from dlkdd.checkpointing import load_checkpoint
from dlkdd.cli import main as cli_main
from dlkdd.quickstart import fit_and_test

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "synthetic"
ROWS = {
    "teacher": "teacher (enhanced view)",
    "two_stream": "two-stream (original + enhanced, 2x cost)",
    "baseline": "student alone (original view)",
    "distill": "student + logit KD (original view)",
    "baseline_on_enhanced": "student alone, enhanced view at test",
    "distill_on_enhanced": "student + logit KD, enhanced view at test",
}


def top1_on_enhanced(config: Path, overrides: list[str], checkpoint: str) -> float:
    """The same weights tested on the enhanced view. LightningCLI rebuilds a model from its checkpoint's
    own hyperparameters (they win over --model options), so the view is changed in a copy."""
    state = load_checkpoint(checkpoint)
    state["hyper_parameters"]["view"] = "enhanced"
    copy = Path(checkpoint).with_name("on_enhanced_view.ckpt")
    torch.save(state, copy)
    test = cli_main(["test", "--config", str(config), *overrides, "--ckpt_path", str(copy)])
    return float(test.trainer.callback_metrics["test/top1"])


def one_seed(seed: int, overrides: list[str]) -> dict[str, float]:
    common = [f"--seed_everything={seed}", *overrides]
    teacher_ckpt, teacher = fit_and_test(CONFIGS / "teacher.yaml", common)
    _, two_stream = fit_and_test(CONFIGS / "two_stream.yaml", common)
    baseline_ckpt, baseline = fit_and_test(CONFIGS / "baseline.yaml", common)
    distill_args = [*common, f"--model.init_args.teacher_checkpoint={teacher_ckpt}"]
    distill_ckpt, distill = fit_and_test(CONFIGS / "distill.yaml", distill_args)
    return {
        "teacher": teacher,
        "two_stream": two_stream,
        "baseline": baseline,
        "distill": distill,
        "baseline_on_enhanced": top1_on_enhanced(CONFIGS / "baseline.yaml", common, baseline_ckpt),
        "distill_on_enhanced": top1_on_enhanced(CONFIGS / "distill.yaml", distill_args, distill_ckpt),
    }


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--root", type=Path, default=Path("data/synthetic"),
                   help="the generated dataset (made on first use)")
    p.add_argument("--workdir", type=Path, default=Path("runs/accuracy_study"))
    p.epilog = "Any other option goes to every run, e.g. --data.num_workers=0"
    args, extra = p.parse_known_args(argv)
    quiet_lightning()
    overrides = [*extra, f"--trainer.max_epochs={args.epochs}", f"--data.root={args.root.resolve()}",
                 "--trainer.logger=false", "--trainer.enable_progress_bar=false",
                 "--trainer.enable_model_summary=false"]
    per_seed = {}
    for seed in args.seeds:
        with working_dir(args.workdir.resolve() / f"seed{seed}"):
            per_seed[seed] = one_seed(seed, overrides)
        scores = ", ".join(f"{key} {100 * top1:.2f}" for key, top1 in per_seed[seed].items())
        print(f"seed {seed}: {scores}", flush=True)

    summary = {}
    for key in ROWS:
        mean, spread = mean_and_spread([per_seed[s][key] for s in args.seeds])
        summary[key] = {"mean": mean, "std": spread}
    rows = [[ROWS[k], f"{100 * v['mean']:.2f} ± {100 * v['std']:.2f}"] for k, v in summary.items()]
    print(f"\nTest top-1 (%) on the generated test split, mean ± std over seeds {args.seeds}, "
          f"{args.epochs} epochs:\n")
    print(markdown_table(["model", "top-1 %"], rows))
    results = {"epochs": args.epochs, "seeds": args.seeds, "per_seed": per_seed, "summary": summary}
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
