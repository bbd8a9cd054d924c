"""benchmarks/genkd_ablation.py: its students are rows of the accuracy study, fitted through the study into
its results file, so a figure measured once is read, not fitted again."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.conftest import tiny_data_args


@pytest.mark.slow
def test_genkd_ablation_fits_through_the_accuracy_study_and_reuses_figures(tiny_root, tmp_path, monkeypatch):
    from benchmarks import accuracy_study, genkd_ablation

    monkeypatch.chdir(tiny_root.parent)
    data = [a for a in tiny_data_args(tiny_root) if "pretrained" not in a and "root" not in a]
    study, out, work = tmp_path / "study.json", tmp_path / "ablation.json", tmp_path / "runs"
    argv = ["--seeds", "0", "--variants", "logit KD", "GenKD mimic", "--timing-steps", "0",
            "--study", str(study), "--root", tiny_root.name, "--workdir", str(work), "--out", str(out),
            *data, "--epochs", "1", "--pretrain_epochs", "1", "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1", "--trainer.accelerator=cpu"]
    genkd_ablation.main(argv)
    figures = json.loads(study.read_text())["figures"]["1"]["pretrained"]
    assert set(figures) == {"student_kd", "genkd_mimic"}  # the teachers and phase 1 are fitted, not rows
    ablation = json.loads(out.read_text())["student_test_top1"]
    assert ablation == {"logit KD": figures["student_kd"], "GenKD mimic": figures["genkd_mimic"]}
    cell = work / "light1" / "pretrained" / "seed0" / "runs"
    # The mimic student learnt from seed 0's own phase 1, which learnt from seed 0's enhanced-view teacher.
    assert (cell / "genkd_teacher" / "best.ckpt").is_file() and (cell / "genkd_mimic" / "best.ckpt").is_file()
    # The study reporting the final checkpoints refits the students and phase 1 (which modelled the teacher's
    # best epoch) from the teacher's final epoch; the teacher, once a row with a figure, is not fitted again.
    # Back to best: likewise.
    rows = ["--inits", "pretrained", "--light_levels", "1", "--seeds", "0", "--root", tiny_root.name,
            "--workdir", str(work), *argv[argv.index("--out") + 2:], "--genkd_epochs", "0",
            "--rows", "teacher_enhanced"]
    accuracy_study.main(["--out", str(study), *rows])
    phase1, teacher = cell / "genkd_teacher" / "best.ckpt", cell / "teacher_enhanced" / "final.ckpt"
    stamps = phase1.stat().st_mtime_ns, teacher.stat().st_mtime_ns
    accuracy_study.main(["--out", str(study), "--checkpoint", "final", *rows, "student_kd", "genkd_mimic"])
    assert phase1.stat().st_mtime_ns > stamps[0] and teacher.stat().st_mtime_ns == stamps[1]
    assert torch.load(phase1, weights_only=False)["hyper_parameters"]["pretrained"] == str(teacher)
    assert json.loads(study.read_text())["invocations"][-1]["fits"] == 3
    genkd_ablation.main(argv)
    assert json.loads(study.read_text())["invocations"][-1]["fits"] == 3
    figures = json.loads(study.read_text())["figures"]["1"]["pretrained"]
    # Measured once: a rerun reads the study's figures and fits nothing.
    shutil.rmtree(work / "light1")
    assert genkd_ablation.main(argv)["student_test_top1"] == {
        "logit KD": {0: figures["student_kd"]["0"]}, "GenKD mimic": {0: figures["genkd_mimic"]["0"]}}
    assert not (work / "light1").exists()
    # The step times need seed 0's checkpoints: without them, one error naming the file.
    with pytest.raises(SystemExit, match="teacher_enhanced.best.ckpt"):
        genkd_ablation.main([*argv[:5], "--timing-steps", "1", *argv[7:]])
    # Another GenKD schedule refits the GenKD students alone, on it; logit KD's figure is kept.
    accuracy_study.main(["--out", str(study), *rows, "student_kd", "genkd_mimic", "--genkd_epochs", "2"])
    relearnt = json.loads(study.read_text())
    assert relearnt["settings"]["genkd_epochs"] == 2 and relearnt["invocations"][-1]["fits"] == 3
    assert relearnt["figures"]["1"]["pretrained"]["student_kd"] == figures["student_kd"]
    assert torch.load(cell / "genkd_mimic" / "final.ckpt", weights_only=False)["epoch"] == 2
    assert not (cell / "student_kd").exists()  # the teacher and phase 1 are refitted, the KD student is not
    # A run that fits no GenKD student keeps their schedule and figures (its default would be 60 epochs).
    flag = rows.index("--genkd_epochs")
    accuracy_study.main(["--out", str(study), *rows[:flag], *rows[flag + 2:], "student_kd"])
    kept = json.loads(study.read_text())
    assert kept["settings"]["genkd_epochs"] == 2 and kept["invocations"][-1]["fits"] == 0
    assert kept["figures"] == relearnt["figures"]
