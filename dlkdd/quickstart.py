"""`dlkdd quickstart`: the whole dual-light pipeline on the generated dark video, on CPU, in minutes.

Runs the shipped configs exactly as a user would: pretraining of the student's and the teacher's
backbones on the generated bright corpus (once: a later run reuses the checkpoints, like the dataset),
then teacher fit, student-alone baseline fit, student distillation fit, each starting from those weights,
a test of each on its best checkpoint, and prints the three test top-1 figures.
"""

from __future__ import annotations

from pathlib import Path

from dlkdd.cli import main as cli_main
from dlkdd.parse_errors import CommandParser
from dlkdd.shipped import SHIPPED

SYNTHETIC_CONFIGS = SHIPPED / "synthetic"  # the package's copy: works installed as in a checkout


def fit_and_test(config: Path, extra: list[str]) -> tuple[str, float]:
    """Fit `config`, then test its best checkpoint; returns (checkpoint path, test top-1)."""
    fit = cli_main(["fit", "--config", str(config), *extra])
    best = fit.trainer.checkpoint_callback.best_model_path
    test = cli_main(["test", "--config", str(config), *extra, "--ckpt_path", best])
    return best, float(test.trainer.callback_metrics["test/top1"])


PRETRAINED = Path("runs/synthetic/pretrain")  # where configs/synthetic/*.yaml read the pretrained weights
BACKBONES = ("tiny3d", "tiny_r2plus1d")  # the student's and the teacher's


def pretrain(config: Path, overrides: list[str]) -> None:
    """Stage 0, once per backbone: a checkpoint already there is reused. Only the trainer options and the
    seed of `overrides` apply: the data options are the dark set's, and pretrain.yaml has its own."""
    own = [o for o in overrides if o.startswith(("--trainer.", "--seed_everything"))]
    for backbone in BACKBONES:
        folder = PRETRAINED / backbone
        if (folder / "pretrained.ckpt").is_file():
            print(f"Reusing the pretrained {backbone}: {folder / 'pretrained.ckpt'}")
            continue
        fit = cli_main(["fit", "--config", str(config), *own, f"--model.init_args.backbone={backbone}",
                        f"--trainer.callbacks.init_args.dirpath={folder}"])
        top1 = fit.trainer.callback_metrics.get("val/top1")
        if top1 is not None:
            print(f"Pretrained {backbone} on the bright corpus: val top-1 {100 * float(top1):.2f} %")


def build_parser() -> CommandParser:
    """Its own options; any other goes to every run (`own_options`)."""
    parser = CommandParser(prog="dlkdd quickstart", description=__doc__)
    parser.add_argument("--configs", type=Path, default=SYNTHETIC_CONFIGS,
                        help="folder of the synthetic configs")
    parser.epilog = ("Any other option goes to every run (to pretraining: the --trainer options), e.g.\n"
                     "--trainer.max_epochs=2 --data.root=DIR; scratch: --model.init_args.pretrained=null")
    return parser


def own_options(argv: list[str]) -> tuple[list[str], list[str]]:
    """quickstart's own options (--configs, --help) and the rest, which go to every run as given."""
    own, rest, words = [], [], iter(argv)
    for word in words:
        if word == "--configs":
            own.append(word)
            value = next(words, None)
            if value is not None:  # none: the parser says --configs expects one argument
                own.append(value)
        elif word.startswith("--configs=") or word in ("-h", "--help"):
            own.append(word)
        else:
            rest.append(word)
    return own, rest


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = build_parser()
    own, overrides = own_options(list(argv or []))
    args = parser.parse_args(own)
    if not (args.configs / "teacher.yaml").is_file():
        parser.error(f"no teacher.yaml in {args.configs}: pass --configs <folder of the synthetic configs>, "
                     "e.g. the one `dlkdd configs` writes")

    if not any(o.startswith("--model.init_args.pretrained") for o in overrides):
        pretrain(args.configs / "pretrain.yaml", overrides)
    teacher_ckpt, teacher_top1 = fit_and_test(args.configs / "teacher.yaml", overrides)
    _, baseline_top1 = fit_and_test(args.configs / "baseline.yaml", overrides)
    distill_extra = [*overrides, f"--model.init_args.teacher_checkpoint={teacher_ckpt}"]
    _, student_top1 = fit_and_test(args.configs / "distill.yaml", distill_extra)

    results = {
        "teacher (enhanced view)": teacher_top1,
        "student alone (original view)": baseline_top1,
        "distilled student (original view)": student_top1,
    }
    print("\nTest top-1 on the generated dark-video test split:")
    for name, top1 in results.items():
        print(f"  {name:<36} {100 * top1:6.2f} %")
    if "--trainer.logger=false" not in overrides:
        print("\nW&B runs (fit and test of each stage): runs/synthetic/wandb/. Offline ones upload with "
              "`wandb login` then `wandb sync runs/synthetic/wandb/offline-run-*`.")
    return results
