"""Training cost of distillation: a DistillModule training step over a plain training step of the same
student (TeacherModule on the original view: what the student would cost without a teacher).

    python -m benchmarks.distill_overhead                          # tiny3d teacher and student, CPU
    python -m benchmarks.distill_overhead --teacher_backbone tiny_r2plus1d   # the shipped config pair

The only unavoidable extra is the frozen teacher's forward, so the limit is
    1 + teacher forward / plain student step (forward + backward + optimizer).
With --model.init_args.cache_teacher_targets (fixed views) that forward runs once per clip: the "cached"
step is the distillation step once every clip of the batch has been seen (all hits), whose limit is 1.
Steps are real Lightning training steps on the same prebuilt batch (views made once: view generation is
measured by benchmarks.view_cost), timed per batch by a callback; plain fits, distill fits and teacher
forwards alternate round after round so machine noise hits all three alike.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import lightning as L
import torch

from benchmarks.common import interleaved_times, median_train_step, parser, quiet_lightning, write_json
from dlkdd.models import DistillModule, TeacherModule

NUM_CLASSES = 10


def save_teacher(path: Path, backbone: str) -> None:
    """A teacher checkpoint written by Lightning itself (random weights: cost does not depend on them)."""
    trainer = L.Trainer(logger=False, devices=1, enable_progress_bar=False)
    trainer.strategy.connect(TeacherModule(NUM_CLASSES, backbone=backbone, view="enhanced"))
    trainer.save_checkpoint(path)


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--backbone", default="tiny3d", help="the student's backbone")
    p.add_argument("--teacher_backbone", default=None, help="default: the student's")
    p.add_argument("--clip_len", type=int, default=8)
    p.add_argument("--crop_size", type=int, default=56)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    quiet_lightning()
    teacher_backbone = args.teacher_backbone or args.backbone
    cuda = torch.cuda.is_available()
    precision = "bf16-mixed" if cuda else "32-true"
    torch.manual_seed(0)
    shape = (args.batch_size, 3, args.clip_len, args.crop_size, args.crop_size)
    batch = {"original": torch.rand(shape) * 0.15, "enhanced": torch.rand(shape),
             "label": torch.randint(0, NUM_CLASSES, (args.batch_size,)), "num_views": 1,
             "index": torch.arange(args.batch_size), "start": torch.zeros(args.batch_size, dtype=torch.long)}

    with tempfile.TemporaryDirectory() as tmp:
        teacher_ckpt = Path(tmp) / "teacher.ckpt"
        save_teacher(teacher_ckpt, teacher_backbone)
        teacher = TeacherModule(NUM_CLASSES, backbone=teacher_backbone).backbone.eval()
        if cuda:
            teacher = teacher.cuda()
        enhanced = batch["enhanced"].to("cuda" if cuda else "cpu")

        def teacher_forward() -> None:
            with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=cuda):
                teacher(enhanced)

        plain, distill, cached, forward = [], [], [], []
        for _ in range(args.rounds):
            student = TeacherModule(NUM_CLASSES, backbone=args.backbone, view="original")
            plain.append(median_train_step(student, batch, args.steps, 3, precision))
            distiller = DistillModule(NUM_CLASSES, str(teacher_ckpt), backbone=args.backbone)
            distill.append(median_train_step(distiller, batch, args.steps, 3, precision))
            distiller = DistillModule(NUM_CLASSES, str(teacher_ckpt), backbone=args.backbone,
                                      cache_teacher_targets=True)
            cached.append(median_train_step(distiller, batch, args.steps, 3, precision))
            forward.append(interleaved_times({"teacher": teacher_forward}, rounds=args.steps,
                                             device="cuda" if cuda else None)["teacher"])

    medians = (statistics.median(x) for x in (plain, distill, cached, forward))
    plain_s, distill_s, cached_s, forward_s = medians
    ratio, limit = distill_s / plain_s, 1 + forward_s / plain_s
    results = {
        "student_backbone": args.backbone, "teacher_backbone": teacher_backbone, "batch": list(shape),
        "precision": precision, "plain_step_ms": 1e3 * plain_s, "distill_step_ms": 1e3 * distill_s,
        "teacher_forward_ms": 1e3 * forward_s, "ratio": ratio, "limit": limit,
        "distance_to_limit": ratio / limit - 1,
        "cached_step_ms": 1e3 * cached_s, "cached_ratio": cached_s / plain_s,
    }
    print(f"student {args.backbone}, teacher {teacher_backbone}, batch {tuple(shape)}, {precision}")
    print(f"  plain student step   {results['plain_step_ms']:8.1f} ms")
    print(f"  distill step         {results['distill_step_ms']:8.1f} ms")
    print(f"  teacher forward      {results['teacher_forward_ms']:8.1f} ms")
    distance = 100 * results["distance_to_limit"]
    print(f"  distill / plain      {ratio:8.3f}   (limit {limit:.3f}; {distance:+.1f}% from it)")
    print(f"  cached targets step  {results['cached_step_ms']:8.1f} ms")
    print(f"  cached / plain       {results['cached_ratio']:8.3f}   (limit 1: no teacher forward)")
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
