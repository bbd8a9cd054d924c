"""How much a checkpoint's evaluation hangs on its BatchNorm statistics: validation top-1 and loss with the
statistics the checkpoint carries, then with statistics re-estimated on one pass over the training clips
(dlkdd.callbacks.PreciseBatchNorm, as the GenKD configs do before each validation), the weights untouched.

    python -m benchmarks.precise_bn --ckpt_path runs/synthetic/distill_genkd/checkpoints/last.ckpt \\
        --config configs/synthetic/distill_genkd.yaml [any other dlkdd validate option]

Everything but --ckpt_path, --num_batches and --out goes to `dlkdd validate`.
"""

from __future__ import annotations

from benchmarks.common import parser, quiet_lightning, write_json
from dlkdd.callbacks import PreciseBatchNorm
from dlkdd.cli import main as cli_main

REPORTED = ("val/top1", "val/loss")


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--ckpt_path", required=True)
    p.add_argument("--num_batches", type=int, default=200, help="training batches of the estimate")
    args, validate_args = p.parse_known_args(argv)
    quiet_lightning()
    quiet = ["--trainer.logger=false", "--trainer.enable_progress_bar=false"]
    run = cli_main(["validate", *validate_args, *quiet, "--ckpt_path", args.ckpt_path])
    trainer, model, data = run.trainer, run.model, run.datamodule

    def figures() -> dict[str, float]:
        return {name: float(trainer.callback_metrics[name]) for name in REPORTED}

    own = figures()
    data.setup("fit")  # the training split, which validate does not read
    PreciseBatchNorm(args.num_batches).estimate(trainer, model)
    trainer.validate(model, datamodule=data, verbose=False)
    results = {"checkpoint": args.ckpt_path, "options": validate_args, "num_batches": args.num_batches,
               "own_statistics": own, "re_estimated": figures()}
    for label, key in (("own statistics", "own_statistics"), ("re-estimated", "re_estimated")):
        print(f"{label:>16}: " + ", ".join(f"{k} {v:.4f}" for k, v in results[key].items()))
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
