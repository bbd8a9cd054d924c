"""The CPU route (configs/cpu) on real dark clips, with splits that keep each recording session together.

    python -m benchmarks.real_cpu_route --root ../shared/real/arid6 \\
        --weights ../shared/weights/jester_shufflenet_0.5x_G3_RGB_16_best.pth \\
        --out benchmarks/results/real_cpu_route.json

Clips named ``<Class>_<scene>_<index>`` (ARID's naming) that share a class and a scene come from one recording
session (same place, people, light). Per class, the scenes whose clip count is closest to `--test_fraction`
of the class go to the test list and the rest to training, so no session is in both (a split by clip would
measure memory of the scene). There is no third session to validate on, so the configs' validation runs on
the test list and the reported figures are the FINAL epoch's weights (no checkpoint picked by test scores).

For each start (`--weights`: the named file, and ``scratch``: --model.init_args.pretrained null), stage 1
(configs/cpu/teacher.yaml: GIC-enhanced view) then stage 2 (configs/cpu/distill.yaml: dark view, taught by
stage 1's final weights) are fitted and tested. Split lists and runs go to `--workdir` (a temp folder by
default); clips are read where they are. Other arguments (``--data.batch_size=4``, ...) go to every fit and
test.
"""

from __future__ import annotations

import itertools
import re
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import markdown_table, parser, quiet_lightning, working_dir, write_json
from dlkdd.cli import main as cli_main
from dlkdd.video import list_videos

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "cpu"
SESSION = re.compile(r"^(?P<label>[A-Za-z]+)_(?P<scene>\d+)_\d+$")


def scene_grouped_split(root: Path, test_fraction: float) -> dict[str, list[tuple[Path, str]]]:
    """{"train": [(video, class)], "test": [...]}: per class, whole sessions (class + scene) to test, the
    subset of its scenes whose size is closest to `test_fraction` of the class (never all of them)."""
    sessions: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for path in list_videos(root):
        match = SESSION.match(path.stem)
        if match is None:
            raise ValueError(f"{path}: not named <Class>_<scene>_<index> (--root); cannot group by session")
        sessions[match["label"]][match["scene"]].append(path)
    split: dict[str, list[tuple[Path, str]]] = {"train": [], "test": []}
    for label, scenes in sorted(sessions.items()):
        if len(scenes) < 2:
            raise ValueError(f"class {label} has one recording session only: nothing to test it on")
        total = sum(map(len, scenes.values()))
        subsets = [c for n in range(1, len(scenes)) for c in itertools.combinations(sorted(scenes), n)]
        held = min(subsets, key=lambda c: (abs(sum(len(scenes[s]) for s in c) / total - test_fraction), c))
        for scene, videos in sorted(scenes.items()):
            split["test" if scene in held else "train"] += [(v, label) for v in videos]
    return split


def write_lists(split: dict[str, list[tuple[Path, str]]], folder: Path) -> dict[str, Path]:
    """`path label` lines (absolute paths, class names) for --data.dataset list."""
    folder.mkdir(parents=True, exist_ok=True)
    lists = {}
    for stage, rows in split.items():
        lists[stage] = folder / f"{stage}.txt"
        lists[stage].write_text("".join(f"{path.resolve()} {label}\n" for path, label in rows))
    return lists


def fit_and_test(config: str, args: list[str], folder: str) -> dict:
    """Fit, save the final weights, test them; top-1 and seconds."""
    args = [*args, f"--trainer.callbacks.init_args.dirpath={folder}"]
    start = time.perf_counter()
    fit = cli_main(["fit", "--config", str(CONFIGS / config), *args])
    final = Path(folder) / "final.ckpt"
    fit.trainer.save_checkpoint(final)
    fit_seconds = time.perf_counter() - start
    test = cli_main(["test", "--config", str(CONFIGS / config), *args, "--ckpt_path", str(final)])
    metrics = {k: float(v) for k, v in test.trainer.callback_metrics.items() if k.startswith("test/")}
    per_class = [v for k, v in metrics.items() if k.startswith("test/acc/")]
    train = {k: float(v) for k, v in fit.trainer.callback_metrics.items() if k.startswith("train/")}
    return {"checkpoint": str(final.resolve()), "test": metrics,
            "mean_class_top1": sum(per_class) / len(per_class), "train_last_epoch": train,
            "fit_seconds": round(fit_seconds, 1),
            "test_seconds": round(time.perf_counter() - start - fit_seconds, 1)}


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="class folders of <Class>_<scene>_<index> clips")
    p.add_argument("--weights", type=Path, required=True, help="the pretrained file both stages start from")
    p.add_argument("--teacher_epochs", type=int, default=8)
    p.add_argument("--student_epochs", type=int, default=8)
    p.add_argument("--test_fraction", type=float, default=0.3)
    p.add_argument("--workdir", type=Path, default=None, help="split lists and runs (default: a temp folder)")
    p.add_argument("--starts", nargs="+", default=["weights", "scratch"], choices=["weights", "scratch"])
    a, extra = p.parse_known_args(argv)  # anything else goes to every dlkdd call (e.g. another backbone)
    quiet_lightning()
    with tempfile.TemporaryDirectory(prefix="dlkdd_cpu_route_") as scratch:
        workdir = (a.workdir or Path(scratch)).resolve()
        split = scene_grouped_split(a.root, a.test_fraction)
        lists = write_lists(split, workdir / "splits")
        data = ["--data.dataset=list", f"--data.root={workdir / 'splits'}",
                f"--data.lists={{train: {lists['train']}, test: {lists['test']}}}",
                f"--data.clip_store={workdir / 'clip_store'}", "--trainer.enable_progress_bar=false",
                "--trainer.logger=false", "--trainer.accelerator=cpu", *extra]
        results: dict = {"root": str(a.root), "weights": str(a.weights),
                         "clips": {stage: len(rows) for stage, rows in split.items()},
                         "test_sessions": sorted({f"{label}_{SESSION.match(v.stem)['scene']}"
                                                  for v, label in split["test"]}),
                         "teacher_epochs": a.teacher_epochs, "student_epochs": a.student_epochs,
                         "extra_arguments": extra,
                         "chance_top1": 1 / len({label for _, label in split["train"]}), "runs": {}}
        started = time.perf_counter()
        with working_dir(workdir):
            for start in a.starts:
                pretrained = str(a.weights.resolve()) if start == "weights" else "null"
                base = [*data, f"--model.init_args.pretrained={pretrained}"]
                teacher = fit_and_test("teacher.yaml", [*base, f"--trainer.max_epochs={a.teacher_epochs}"],
                                       f"runs/{start}/teacher")
                student = fit_and_test("distill.yaml", [
                    *base, f"--trainer.max_epochs={a.student_epochs}",
                    f"--model.init_args.teacher_checkpoint={teacher['checkpoint']}"], f"runs/{start}/distill")
                results["runs"][start] = {"teacher (GIC view)": teacher, "student + KD (dark view)": student}
        results["minutes"] = round((time.perf_counter() - started) / 60, 1)
        # CPU time of this process and its finished loader workers: what the wall time is on a quiet machine,
        # give or take the parallelism, when the machine was shared.
        used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        results["cpu_minutes"] = round(sum(u.ru_utime + u.ru_stime for u in used) / 60, 1)
    rows = [[start, stage, f"{100 * r['test']['test/top1']:.1f}", f"{100 * r['mean_class_top1']:.1f}",
             f"{100 * r['train_last_epoch'].get('train/top1', float('nan')):.1f}",
             f"{r['fit_seconds'] / 60:.1f}"]
            for start, stages in results["runs"].items() for stage, r in stages.items()]
    print(f"\n{results['clips']['train']} training / {results['clips']['test']} test clips, test sessions "
          f"{', '.join(results['test_sessions'])}; chance {100 * results['chance_top1']:.1f} %; "
          "final epochs:\n")
    header = ["start", "stage", "test top-1 (%)", "mean class top-1 (%)", "train top-1, last epoch (%)",
              "fit (min)"]
    print(markdown_table(header, rows))
    print(f"\n{results['minutes']} min in all ({results['cpu_minutes']} min of CPU time)")
    write_json(a.out, results)
    return results


if __name__ == "__main__":
    main()
