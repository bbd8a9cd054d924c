"""View generation cost: the on-device augmentation + enhancement of a training batch over the model's
training step on the views it makes, for the shipped configs (target: under 5 %).

    python -m benchmarks.view_cost                  # configs/synthetic/{teacher,baseline}.yaml
    python -m benchmarks.view_cost --arid            # also configs/arid/teacher.yaml (R(2+1)D-34)

The batch is uint8 (B, T, H, W, C) as the workers deliver it, at the config's clip_len, frame_size and
batch_size; the views are what the config's model asks for (the teacher: original -> enhanced).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmarks.common import (
    interleaved_times,
    median_train_step,
    parser,
    quiet_lightning,
    report,
)
from dlkdd.cli import main as cli_main

REPO = Path(__file__).resolve().parent.parent
SYNTHETIC = ["configs/synthetic/teacher.yaml", "configs/synthetic/baseline.yaml"]
ARID = ["configs/arid/teacher.yaml"]


def measure(config: str, batch_size: int | None, steps: int, device: torch.device) -> dict:
    # Random weights: a step costs the same with pretrained ones, and the configs' weights (a pretrain
    # checkpoint, IG-65M) need not exist here.
    overrides = ["--trainer.logger=false", "--model.init_args.pretrained=null"]
    overrides += [f"--data.batch_size={batch_size}"] if batch_size else []
    with tempfile.TemporaryDirectory() as tmp:  # relative run folders of the config land in tmp
        cli = cli_main(["--config", str(REPO / config), f"--data.root={tmp}/data", *overrides], run=False)
    model, data = cli.model, cli.datamodule
    hp = data.hparams
    shape = (hp.batch_size, hp.clip_len, *hp.frame_size, 3)
    dark = torch.randint(0, 40, shape, dtype=torch.uint8, device=device)
    views = data.views.to(device)

    def make_views() -> dict:
        return views(dark, train=True, views=model.input_views)

    batch = {**make_views(), "label": torch.zeros(hp.batch_size, dtype=torch.long), "num_views": 1}
    precision = "bf16-mixed" if device.type == "cuda" else "32-true"
    step = median_train_step(model, {k: v.cpu() if torch.is_tensor(v) else v for k, v in batch.items()},
                             steps, precision=precision)
    view = interleaved_times({"views": make_views}, rounds=steps, device=device)["views"]
    return {"backbone": model.hparams.backbone, "views": sorted(model.input_views),
            "enhancer": hp.enhancer, "batch": list(shape), "view_ms": 1e3 * view, "step_ms": 1e3 * step,
            "view_over_step": view / step}


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--arid", action="store_true", help="also measure configs/arid/teacher.yaml")
    p.add_argument("--arid_batch_size", type=int, default=2, help="per-device batch for the ARID config")
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args(argv)
    quiet_lightning()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    configs = {c: None for c in SYNTHETIC}
    if args.arid:
        configs.update({c: args.arid_batch_size for c in ARID})
    results = {"device": str(device),
               "configs": {c: measure(c, bs, args.steps, device) for c, bs in configs.items()}}
    rows = [[c, r["backbone"], "+".join(r["views"]), r["enhancer"], "x".join(map(str, r["batch"])),
             f"{r['view_ms']:.1f}", f"{r['step_ms']:.1f}", f"{100 * r['view_over_step']:.1f} %"]
            for c, r in results["configs"].items()]
    header = ["config", "backbone", "views", "enhancer", "uint8 batch", "views (ms)", "train step (ms)",
              "views / step"]
    return report(args.out, results, header, rows)


if __name__ == "__main__":
    main()
