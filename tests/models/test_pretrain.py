"""The pretraining stage: configs/synthetic/pretrain.yaml on the generated bright corpus, then its checkpoint
loaded with the head replaced into every module the synthetic configs build (the path real users take with
Kinetics or IG-65M weights)."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from dlkdd.cli import main
from dlkdd.models import DistillModule, TeacherModule, TwoStreamModule, VideoClassifier
from dlkdd.synthetic.dataset import BRIGHT_CLASS_NAMES, CLASS_NAMES, generate_dataset
from tests.conftest import CONFIGS, TINY, save_as_fit_would, tiny_data_args

SYNTHETIC = CONFIGS / "synthetic"
QUIET = ["--trainer.accelerator=cpu", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
         "--trainer.enable_model_summary=false"]
SHORT = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]



def load_pretrained_as_a_run_would(cli) -> None:
    """Pretrained weights arrive when a run starts (VideoClassifier.setup), not when a config is read."""
    cli.model.trainer = cli.trainer
    VideoClassifier.setup(cli.model, "fit")


@pytest.fixture(scope="module")
def bright_root(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("bright"), TINY, corpus="bright")


def pretrain_args(root: Path) -> list[str]:
    """The tiny bright corpus and clips that fit it (pretrain.yaml sizes its own corpus)."""
    return [f"--data.root={root}", f"--data.synthetic={json.dumps(asdict(TINY))}", "--data.clip_len=4",
            "--data.frame_size=[32, 43]", "--data.crop_size=28", "--data.batch_size=4",
            "--data.num_workers=0"]


def _net_state(module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in module.state_dict().items() if k.startswith("net.")}


@pytest.mark.slow
def test_pretrain_checkpoints_start_every_synthetic_module_with_a_new_head(bright_root, tiny_root, tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # the configs' relative run folders land here, as in a user's checkout
    config = str(SYNTHETIC / "pretrain.yaml")
    student = main(["fit", "--config", config, *pretrain_args(bright_root), *QUIET, *SHORT])
    assert student.datamodule.class_names == list(BRIGHT_CLASS_NAMES)
    assert "train/loss" in student.trainer.callback_metrics
    # The teacher's backbone: the command pretrain.yaml documents.
    teacher = main(["fit", "--config", config, *pretrain_args(bright_root), *QUIET, *SHORT,
                    "--model.init_args.backbone=tiny_r2plus1d",
                    "--trainer.callbacks.init_args.dirpath=runs/synthetic/pretrain/tiny_r2plus1d"])
    pretrained = {}
    for fit, name in ((student, "tiny3d"), (teacher, "tiny_r2plus1d")):
        path = tmp_path / "runs/synthetic/pretrain" / name / "pretrained.ckpt"
        assert Path(fit.trainer.checkpoint_callback.best_model_path) == path  # what the configs read
        pretrained[name] = _net_state(fit.model.backbone)
        assert fit.model.backbone.head.out_features == len(BRIGHT_CLASS_NAMES)

    # Each synthetic config, as shipped (pretrained: the paths above), on the dark data.
    data = [a for a in tiny_data_args(tiny_root) if "pretrained" not in a]
    teacher_file = save_as_fit_would(TeacherModule(len(CLASS_NAMES), "tiny_r2plus1d"), tmp_path / "t.ckpt")
    cases = {
        "teacher.yaml": (TeacherModule, "tiny_r2plus1d"),
        "baseline.yaml": (TeacherModule, "tiny3d"),
        "distill.yaml": (DistillModule, "tiny3d"),
        "two_stream.yaml": (TwoStreamModule, "tiny3d"),
        "distill_genkd.yaml": (DistillModule, "tiny3d"),
    }
    for name, (kind, backbone) in cases.items():
        cli = main(["--config", str(SYNTHETIC / name), *data, *QUIET,
                    f"--model.init_args.teacher_checkpoint={teacher_file}" if kind is DistillModule else
                    "--seed_everything=0"], run=False)
        assert type(cli.model) is kind and cli.model.hparams.backbone == backbone, name
        load_pretrained_as_a_run_would(cli)
        backbones = [cli.model.backbone]
        if kind is TwoStreamModule:
            backbones.append(cli.model.enhanced_backbone)
        for loaded in backbones:
            assert loaded.head.out_features == len(CLASS_NAMES), name  # the head is the dark task's
            state = _net_state(loaded)
            assert state.keys() == pretrained[backbone].keys()
            for key, tensor in pretrained[backbone].items():
                torch.testing.assert_close(state[key], tensor, msg=f"{name}: {key}")

    # One option away: from scratch.
    scratch = main(["--config", str(SYNTHETIC / "baseline.yaml"), *data, *QUIET,
                    "--model.init_args.pretrained=null"], run=False)
    load_pretrained_as_a_run_would(scratch)
    weights = _net_state(scratch.model.backbone)
    floats = {k: v for k, v in pretrained["tiny3d"].items() if v.is_floating_point()}
    assert any(not torch.equal(weights[k], v) for k, v in floats.items())


def test_a_missing_pretrain_checkpoint_names_the_file(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = [a for a in tiny_data_args(tiny_root) if "pretrained" not in a]
    # jsonargparse wraps it in a ValueError on the way (dlkdd's console shows the FileNotFoundError's text).
    missing = "runs/synthetic/pretrain/tiny3d/pretrained.ckpt"
    with pytest.raises((FileNotFoundError, ValueError), match=missing):
        load_pretrained_as_a_run_would(main(["--config", str(SYNTHETIC / "baseline.yaml"), *data, *QUIET],
                                            run=False))


@pytest.mark.slow
def test_accuracy_study_writes_every_seed_and_the_light_plot(tiny_root, tmp_path, monkeypatch):
    from benchmarks import accuracy_study

    monkeypatch.chdir(tiny_root.parent)  # --root relative, as users write it
    data = [a for a in tiny_data_args(tiny_root) if "pretrained" not in a and "root" not in a]
    out, png = tmp_path / "study.json", tmp_path / "light.png"
    argv = ["--seeds", "0", "--rows", "teacher_dark", "student_kd", "--inits", "pretrained", "scratch",
            "--scratch_rows", "student_kd", "--scratch_epochs", "2",
            "--epochs", "1", "--pretrain_epochs", "1", "--light_levels", "1", "3", "--light_seeds", "0",
            "--light_rows", "student_kd", "--light_epochs", "2", "--root", tiny_root.name,
            "--workdir", str(tmp_path / "runs"),
            "--out", str(out), "--png", str(png), *data, "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1", "--trainer.accelerator=cpu"]
    accuracy_study.main(argv)
    results = json.loads(out.read_text())
    figures = results["figures"]
    assert set(figures["1"]) == {"pretrained", "scratch"}
    assert set(figures["1"]["pretrained"]) == {"teacher_dark", "student_kd"}  # the KD teacher: fitted, no row
    assert set(figures["3"]["pretrained"]) == {"student_kd"}
    assert 0.0 <= figures["3"]["pretrained"]["student_kd"]["0"] <= 1.0
    assert results["settings"]["exposures"]["3"] == [0.01, 0.026667]
    assert results["summary"]["1"]["scratch"]["student_kd"]["n"] == 1
    assert set(results["all_figures"]) == {"best", "final"}  # both checkpoints of every fit are tested
    assert results["all_figures"]["best"] == figures
    assert png.stat().st_size > 10_000
    # Every fit and its tests are timed, and so is the whole invocation (the study's wall time).
    assert set(results["test_seconds"]) == {k for k in results["fit_seconds"] if "genkd_teacher" not in k}
    timed = sum(results["fit_seconds"].values()) + sum(results["test_seconds"].values())
    [run] = results["invocations"]
    assert run["seconds"] > timed and run["pretrained"] and run["fits"] == len(results["fit_seconds"])
    # Darker light is a dataset of its own beside the default one, made with 3x less exposure.
    darker = json.loads((tiny_root.with_name(f"{tiny_root.name}_dark3") / ".synthetic.json").read_text())
    assert darker["exposure"] == [0.01, 0.026667]
    assert not list((tmp_path / "runs").rglob(".synthetic.json"))  # no fit made a dataset of its own
    # The KD student's teacher is the enhanced-view one: it is not overwritten by the dark-view teacher.
    cell = tmp_path / "runs" / "light1" / "pretrained" / "seed0" / "runs"
    assert (cell / "teacher_enhanced" / "best.ckpt").is_file()
    assert (cell / "teacher_dark" / "best.ckpt").is_file()
    # From random weights the fits run --scratch_epochs, the pretrained ones --epochs, darker light
    # --light_epochs.
    def epochs_of(init: str, level: int = 1) -> int:
        final = tmp_path / "runs" / f"light{level}" / init / "seed0" / "runs" / "student_kd" / "final.ckpt"
        return torch.load(final, map_location="cpu", weights_only=False)["epoch"]

    assert epochs_of("scratch") == epochs_of("pretrained", 3) == epochs_of("pretrained") + 1
    assert results["settings"]["light_epochs"] == {"3": 2}
    # A rerun with the same --out fits nothing again: no run folder comes back.
    shutil.rmtree(tmp_path / "runs" / "light1")
    accuracy_study.main(argv)
    assert json.loads(out.read_text())["figures"] == figures
    assert not (tmp_path / "runs" / "light1").exists()
    # Another scratch schedule refits the scratch rows only, and keeps the pretrained figures.
    accuracy_study.main([*argv, "--scratch_epochs", "1"])
    assert (tmp_path / "runs" / "light1" / "scratch").is_dir()
    assert not (tmp_path / "runs" / "light1" / "pretrained").exists()
    rerun = json.loads(out.read_text())
    assert rerun["figures"]["1"]["pretrained"] == figures["1"]["pretrained"]
    assert rerun["settings"]["scratch_epochs"] == 1
    # A run without scratch fits (as genkd_ablation's) keeps the scratch figures and their schedule.
    accuracy_study.main([*argv, "--inits", "pretrained", "--scratch_epochs", "5"])
    kept = json.loads(out.read_text())
    assert kept["figures"]["1"]["scratch"] == rerun["figures"]["1"]["scratch"]
    assert kept["settings"]["scratch_epochs"] == 1
    # A student added later (genkd_ablation's, after the study) learns from the teacher fitted before:
    # the teacher is not fitted again when its figure is in the JSON and its fit ended.
    rows = ["--rows", "teacher_enhanced", "student_kd", "--inits", "pretrained", "--light_levels", "1"]
    accuracy_study.main([*argv, *rows])
    teacher = cell / "teacher_enhanced" / "final.ckpt"
    fitted = teacher.stat().st_mtime_ns
    with_teacher = json.loads(out.read_text())
    for checkpoint in with_teacher["all_figures"].values():
        checkpoint["1"]["pretrained"]["student_kd"].pop("0")
    out.write_text(json.dumps(with_teacher))
    accuracy_study.main([*argv, *rows])
    assert teacher.stat().st_mtime_ns == fitted
    last = json.loads(out.read_text())
    assert "0" in last["figures"]["1"]["pretrained"]["student_kd"]
    assert [run["fits"] for run in last["invocations"][-2:]] == [1, 1]  # the teacher, then the student
    # Runs at the default light only keep the darker figures and their schedule; another --light_epochs
    # refits the darker cells (the student and its teacher), and no default-light one.
    assert last["figures"]["3"] == figures["3"] and last["settings"]["light_epochs"] == {"3": 2}
    shutil.rmtree(tmp_path / "runs" / "light1")
    accuracy_study.main([*argv, "--light_epochs", "1", "--scratch_epochs", "1"])
    relit = json.loads(out.read_text())
    assert relit["invocations"][-1]["fits"] == 2 and not (tmp_path / "runs" / "light1").exists()
    assert relit["figures"]["1"] == last["figures"]["1"] and epochs_of("pretrained", 3) == 1
    # Each darker level has a schedule of its own: a new level is fitted on its own, the level whose
    # schedule is unchanged is kept (a file from before, one number for every level, reads the same).
    relit["settings"]["light_epochs"] = 1
    out.write_text(json.dumps(relit))
    kept = [*argv, "--scratch_epochs", "1", "--light_levels", "1", "3", "10"]
    accuracy_study.main([*kept, "--light_epochs", "1", "2"])
    both = json.loads(out.read_text())
    assert both["invocations"][-1]["fits"] == 2  # the 10x student and its teacher
    assert both["settings"]["light_epochs"] == {"3": 1, "10": 2}
    assert both["figures"]["3"] == relit["figures"]["3"] and epochs_of("pretrained", 10) == 2
    with pytest.raises(SystemExit):  # two darker levels, three schedules
        accuracy_study.main([*kept, "--light_epochs", "1", "2", "3"])


@pytest.mark.slow
def test_quickstart_reuses_the_pretrained_checkpoints(tiny_root, tmp_path, monkeypatch, capsys):
    from dlkdd.quickstart import main as quickstart

    monkeypatch.chdir(tmp_path)
    for backbone in ("tiny3d", "tiny_r2plus1d"):  # as stage 0 leaves them (12 bright classes)
        path = tmp_path / "runs/synthetic/pretrain" / backbone / "pretrained.ckpt"
        path.parent.mkdir(parents=True)
        names = list(BRIGHT_CLASS_NAMES)
        save_as_fit_would(TeacherModule(len(names), backbone, class_names=names), path)
    data = [a for a in tiny_data_args(tiny_root) if "pretrained" not in a]
    results = quickstart([*data, *QUIET, *SHORT])
    out = capsys.readouterr().out
    assert out.count("Reusing the pretrained") == 2
    assert set(results) == {"teacher (enhanced view)", "student alone (original view)",
                            "distilled student (original view)"}
    assert all(0.0 <= top1 <= 1.0 for top1 in results.values())
