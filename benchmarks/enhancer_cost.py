"""Enhancer cost: the on-device enhancement of a batch over the teacher's forward pass on the same batch,
for every enhancer, at the shipped teacher configs' settings (batch, clip length, crop, backbone).

    python -m benchmarks.enhancer_cost                 # configs/synthetic/teacher.yaml (tiny_r2plus1d)
    python -m benchmarks.enhancer_cost --arid          # also configs/arid/teacher.yaml (R(2+1)D-34)

The enhancer runs on the float (B,3,T,crop,crop) original view, as in DarkVideoDataModule; the teacher
forward is in eval mode without gradients, the cheapest thing a training step does with that batch,
so the ratio is an upper bound of the enhancer's share of a step. All figures of a setting come from
one interleaved run, so a busy machine slows every candidate alike. Zero-DCE++ has random weights
here (its cost does not depend on them), with scale_factor and iterations from the dataset's
enhancer.yaml.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
import yaml

from benchmarks.common import interleaved_times, parser, quiet_lightning, report
from dlkdd.cli import main as cli_main
from dlkdd.enhance import create_enhancer, list_enhancers

REPO = Path(__file__).resolve().parent.parent


def enhancer_options(dataset: str, data_hparams) -> dict[str, dict]:
    """Each enhancer's options as the shipped configs set them."""
    zero_dce = yaml.safe_load((REPO / f"configs/{dataset}/enhancer.yaml").read_text())["model"]["init_args"]
    options = {"zero_dce": {k: zero_dce[k] for k in ("scale_factor", "iterations")}}
    options[data_hparams.enhancer] = dict(data_hparams.enhancer_options or {})
    return options


def measure(dataset: str, batch_size: int | None, rounds: int, device: torch.device) -> dict:
    overrides = ["--trainer.logger=false"] + ([f"--data.batch_size={batch_size}"] if batch_size else [])
    with tempfile.TemporaryDirectory() as tmp:  # the config's relative run folders land in tmp
        cli = cli_main(["--config", str(REPO / f"configs/{dataset}/teacher.yaml"), f"--data.root={tmp}/data",
                        *overrides], run=False)
    hp = cli.datamodule.hparams
    teacher = cli.model.backbone.to(device).eval()
    shape = (hp.batch_size, 3, hp.clip_len, hp.crop_size, hp.crop_size)
    dark = torch.rand(shape, generator=torch.Generator().manual_seed(0)).mul_(0.15).to(device)
    options = enhancer_options(dataset, hp)
    enhancers = {name: create_enhancer(name, **options.get(name, {})).to(device) for name in list_enhancers()}

    def timed(fn):
        def call():
            with torch.no_grad():
                fn(dark)
        return call

    candidates = {"teacher forward": timed(teacher), **{name: timed(e) for name, e in enhancers.items()}}
    seconds = interleaved_times(candidates, rounds=rounds, warmup=1, device=device)
    forward = seconds.pop("teacher forward")
    return {
        "teacher": cli.model.hparams.backbone,
        "batch": list(shape),
        "teacher_forward_ms": 1e3 * forward,
        "enhancers": {
            name: {"options": options.get(name, {}), "ms": 1e3 * s, "over_teacher_forward": s / forward}
            for name, s in seconds.items()
        },
    }


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--arid", action="store_true", help="also measure configs/arid/teacher.yaml")
    p.add_argument("--arid_batch_size", type=int, default=2, help="batch for the ARID setting (config: 8)")
    p.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds (medians are reported)")
    args = p.parse_args(argv)
    quiet_lightning()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    settings = {"synthetic": None, **({"arid": args.arid_batch_size} if args.arid else {})}
    results = {"device": str(device), "torch_threads": torch.get_num_threads(),
               "settings": {name: measure(name, bs, args.rounds, device) for name, bs in settings.items()}}
    rows = []
    for name, r in results["settings"].items():
        for enhancer, e in r["enhancers"].items():
            options = ", ".join(f"{k}={v}" for k, v in e["options"].items())
            rows.append([name, r["teacher"], "x".join(map(str, r["batch"])), f"{enhancer} {options}".strip(),
                         f"{e['ms']:.2f}", f"{r['teacher_forward_ms']:.1f}",
                         f"{100 * e['over_teacher_forward']:.2f} %"])
    print(f"device: {device}, {torch.get_num_threads()} threads, {args.rounds} interleaved rounds (medians)")
    header = ["setting", "teacher", "float batch (B,C,T,H,W)", "enhancer", "enhance (ms)",
              "teacher forward (ms)", "enhance / forward"]
    return report(args.out, results, header, rows)


if __name__ == "__main__":
    main()
