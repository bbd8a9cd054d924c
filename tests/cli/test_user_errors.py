"""Mistakes in a user's data or command print one `dlkdd: error:` paragraph, never a traceback; switching
the enhancer keeps working whatever options a config carries; third-party notices stay off the console."""

from __future__ import annotations

import shutil
import sys
import warnings

import pytest

from dlkdd.cli import main, run
from dlkdd.console import quiet_third_party_notices
from dlkdd.enhance.classic import ContrastLimitedHistogramEqualization, GammaIntensityCorrection, Identity
from dlkdd.models import TeacherModule
from tests.cli.test_parse_errors import LOCAL, console
from tests.conftest import CONFIGS, save_as_fit_would, tiny_data_args
from tests.data.test_validation import counting_frames, write_bad_videos, write_video

TEACHER = str(CONFIGS / "synthetic/teacher.yaml")
NOTICES = ("💡 Tip", "LeafSpec", "anonymous setting", "args parameter is intended")


def test_too_many_broken_videos_is_one_paragraph(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    good = write_video(tmp_path / "good.mp4", counting_frames(20))
    for name in ["a", "b"]:
        (tmp_path / "videos" / name).mkdir(parents=True)
        shutil.copy(good, tmp_path / "videos" / name / "good.mp4")
        write_bad_videos(tmp_path / "videos" / name, good)
    message = console(monkeypatch, capsys, "fit", "--config", TEACHER, "--data",
                      str(CONFIGS / "folder/data.yaml"), f"--data.root={tmp_path / 'videos'}",
                      "--data.num_workers=0", *LOCAL)
    assert "videos of the train split are unreadable" in message and "--data.max_broken_fraction" in message
    assert "\n" not in message.split("(set DLKDD_TRACEBACK")[0].strip()  # one paragraph


@pytest.mark.parametrize("command", ["validate", "test", "predict"])
def test_a_checkpoint_for_another_class_count_names_both_and_the_way_out(
        command, tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    three = TeacherModule(num_classes=3, backbone="tiny3d", class_names=["enter", "leave", "loiter"])
    three.hparams["_class_path"] = "dlkdd.models.TeacherModule"  # as the CLI's fit saves it
    ckpt = save_as_fit_would(three, tmp_path / "three.ckpt")
    message = console(monkeypatch, capsys, command, "--config", TEACHER, *tiny_data_args(tiny_root), *LOCAL,
                      "--model.init_args.backbone=tiny3d", "--ckpt_path", str(ckpt))
    assert "trained for 3 classes (enter, leave, loiter)" in message and "has 10 classes" in message
    assert "--data.dataset videos" in message and str(ckpt) in message


def test_switching_the_enhancer_leaves_the_configs_options_to_their_enhancer(tiny_root, tmp_path, monkeypatch,
                                                                           capsys):
    monkeypatch.chdir(tmp_path)
    data = tiny_data_args(tiny_root)
    # The synthetic config carries gic's {gamma: ...}: identity and clahe take no gamma.
    identity = main(["--config", TEACHER, *data, *LOCAL, "--data.enhancer=identity"], run=False)
    assert isinstance(identity.datamodule.views.enhancer, Identity)
    notice = "enhancer 'identity' ignores --data.enhancer_options gamma (an option of gic)"
    assert notice in capsys.readouterr().err
    clahe = main(["--config", TEACHER, *data, *LOCAL, "--data.enhancer=clahe"], run=False)
    assert isinstance(clahe.datamodule.views.enhancer, ContrastLimitedHistogramEqualization)

    # Keyed by enhancer: each enhancer gets its own entry, whichever is chosen.
    keyed = "--data.enhancer_options={gic: {gamma: 3.5}, clahe: {clip_limit: 3.0}}"
    gic = main(["--config", TEACHER, *data, *LOCAL, keyed], run=False).datamodule.views.enhancer
    clahe = main(["--config", TEACHER, *data, *LOCAL, keyed, "--data.enhancer=clahe"],
                 run=False).datamodule.views.enhancer
    assert isinstance(gic, GammaIntensityCorrection) and gic.gamma == 3.5 and clahe.clip_limit == 3.0


def test_an_option_no_enhancer_takes_is_one_paragraph(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    message = console(monkeypatch, capsys, "fit", "--config", TEACHER, *tiny_data_args(tiny_root), *LOCAL,
                      "--data.enhancer_options={gama: 2.0}")
    assert "--data.enhancer_options gama: not an option of enhancer 'gic' (it takes gamma)" in message


@pytest.mark.slow
def test_dlkdd_runs_without_third_party_notices(tiny_root, tmp_path, monkeypatch, capfd):
    """A fit with the default W&B logger (disabled: no files, no service) through the console entry, and
    a fit called from inside a dlkdd command (quickstart's way): none of the notices above."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    fast = ["--trainer.accelerator=cpu", "--trainer.max_epochs=1", "--trainer.limit_train_batches=1",
            "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false"]
    monkeypatch.setattr(sys, "argv", ["dlkdd", "fit", "--config", TEACHER, *tiny_data_args(tiny_root), *fast])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
        main(["fit", "--config", TEACHER, *tiny_data_args(tiny_root), *fast])  # sys.argv has args: warns
    printed = capfd.readouterr()
    text = printed.out + printed.err + "\n".join(str(w.message) for w in caught)
    assert (tmp_path / "runs/synthetic/teacher/checkpoints/best.ckpt").is_file()  # the fits ran
    for notice in NOTICES:
        assert notice not in text, notice


def test_the_notice_filters_leave_other_warnings_alone():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party_notices()
        warnings.warn("The dataloader does not have many workers", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["The dataloader does not have many workers"]


def test_a_missing_or_cut_checkpoint_is_one_paragraph(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--config", TEACHER, *tiny_data_args(tiny_root), *LOCAL]
    message = console(monkeypatch, capsys, "validate", *args, "--ckpt_path", str(tmp_path / "nope.ckpt"))
    assert f"--ckpt_path {tmp_path / 'nope.ckpt'}: no such file" in message
    ckpt = save_as_fit_would(TeacherModule(num_classes=10, backbone="tiny3d"), tmp_path / "whole.ckpt")
    (tmp_path / "cut.ckpt").write_bytes(ckpt.read_bytes()[:1000])
    message = console(monkeypatch, capsys, "test", *args, "--ckpt_path", str(tmp_path / "cut.ckpt"))
    assert "cut.ckpt is not a readable checkpoint" in message
    message = console(monkeypatch, capsys, "fit", *args, "--model.init_args.backbone=tiny3d",
                      f"--model.init_args.pretrained={tmp_path / 'cut.ckpt'}")
    assert "cut.ckpt' given as option `pretrained` is not a readable torch file" in message


def test_a_fit_never_overwrites_another_runs_checkpoints(tiny_root, tmp_path, monkeypatch, capsys):
    """The issue's case: the synthetic teacher config pointed at one's own 2-class folder, keeping the
    config's checkpoint folder, would have replaced the synthetic teacher's best.ckpt without a word."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "teacher_checkpoints"
    one_step = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
                f"--trainer.callbacks.dirpath={folder}", *LOCAL]
    main(["fit", "--config", TEACHER, *tiny_data_args(tiny_root), *one_step])
    first = sorted(folder.glob("*.ckpt"))
    before = {p: p.read_bytes() for p in first}
    assert first
    good = write_video(tmp_path / "good.mp4", counting_frames(20))
    for name in ["cat", "dog"]:
        (tmp_path / "mine" / name).mkdir(parents=True)
        for k in range(3):
            shutil.copy(good, tmp_path / "mine" / name / f"{k}.mp4")
    message = console(monkeypatch, capsys, "fit", "--config", TEACHER, *tiny_data_args(tiny_root),
                      "--data.dataset=folder", f"--data.root={tmp_path / 'mine'}", *one_step)
    assert f"dirpath {folder} holds" in message and "another run" in message
    assert "--trainer.callbacks.init_args.dirpath runs/" in message
    assert {p: p.read_bytes() for p in sorted(folder.glob("*.ckpt"))} == before  # nothing touched
    # The same run again (same classes) may overwrite its own folder, as before.
    main(["fit", "--config", TEACHER, *tiny_data_args(tiny_root), *one_step])
