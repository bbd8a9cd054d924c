"""`dlkdd export`: the student and the teacher (enhancer inside the graph) written as ONNX and TorchScript,
verified against PyTorch on real decoded clips, with their clip settings read back from the file; and
`dlkdd predict --model_file` on the ONNX file writing the checkpoint's rows."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dlkdd.cli import main
from dlkdd.data.clip_spec import ClipSpec
from dlkdd.inference import InferenceGraph, OnnxClipModel, TorchScriptClipModel, load_clip_model
from dlkdd.inference.export import clips_from_videos, export_graph, find_videos, verify
from dlkdd.inference.export import main as export
from dlkdd.inference.exported import require
from dlkdd.models import TeacherModule
from tests.conftest import CONFIGS, tiny_data_args

pytest.importorskip("onnxruntime", reason='the export extra: pip install -e ".[export]"')
LOCAL = ["--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false", "--trainer.logger=false"]
FIT = [*LOCAL, "--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1"]


@pytest.fixture(scope="module")
def checkpoints(tiny_root, tmp_path_factory) -> dict[str, Path]:
    """The quickstart's two stages, one batch each: a teacher (enhanced view) and its distilled student."""
    folder = tmp_path_factory.mktemp("export-ckpt")
    data = tiny_data_args(tiny_root)
    teacher = main(["fit", "--config", str(CONFIGS / "synthetic/teacher.yaml"), *data, *FIT,
                    f"--trainer.callbacks.dirpath={folder / 'teacher'}"])
    teacher_ckpt = teacher.trainer.checkpoint_callback.best_model_path
    student = main(["fit", "--config", str(CONFIGS / "synthetic/distill.yaml"), *data, *FIT,
                    f"--model.init_args.teacher_checkpoint={teacher_ckpt}",
                    f"--trainer.callbacks.dirpath={folder / 'student'}"])
    student_ckpt = student.trainer.checkpoint_callback.best_model_path
    return {"teacher": Path(teacher_ckpt), "student": Path(student_ckpt)}


@pytest.fixture(scope="module")
def student_onnx(checkpoints, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("export") / "student.onnx"
    export(["--ckpt_path", str(checkpoints["student"]), "--output", str(output)])
    return output


def test_the_student_exports_to_onnx_verified_on_generated_clips(checkpoints, tmp_path, capsys):
    output = tmp_path / "student.onnx"
    result = export(["--ckpt_path", str(checkpoints["student"]), "--format", "onnx", "--output", str(output)])
    printed = capsys.readouterr().out
    assert result.source == "generated dark videos" and result.clips == 8
    assert result.max_abs_diff <= 1e-4 and result.top1_agree == 8
    assert "max |p_onnx - p_pytorch|" in printed and "top-1 agrees on 8/8" in printed
    assert "clip_len 4, frame_stride 3, frame_size 32x43, crop_size 28" in printed  # the metadata, printed
    assert "backbone     tiny3d" in printed and "view         original" in printed


def test_the_metadata_round_trips(checkpoints, student_onnx):
    import onnx

    exported, original = load_clip_model(student_onnx), load_clip_model(checkpoints["student"])
    assert isinstance(exported, OnnxClipModel) and exported.spec == original.spec
    props = {p.key: p.value for p in onnx.load(str(student_onnx)).metadata_props}
    assert props["clip_len"] == "4" and json.loads(props["frame_size"]) == [32, 43]
    assert json.loads(props["class_names"]) == original.spec.class_names
    assert props["output"] == "probabilities"
    assert props["dlkdd_version"] == "0.1.0" and props["view"] == "original"


def test_the_onnx_batch_is_dynamic_and_matches_pytorch_on_real_clips(tiny_root, checkpoints, student_onnx):
    exported, original = load_clip_model(student_onnx), load_clip_model(checkpoints["student"])
    frames = clips_from_videos(exported.spec, find_videos(tiny_root, 5))  # real mp4 files, decoded
    for batch in (frames[:1], frames):
        torch.testing.assert_close(exported.probabilities(batch), original.probabilities(batch),
                                   atol=1e-5, rtol=1e-4)


def test_the_teacher_exports_to_torchscript_with_its_enhancer_and_logits(tiny_root, checkpoints, tmp_path):
    output = tmp_path / "teacher.pt"
    result = export(["--ckpt_path", str(checkpoints["teacher"]), "--output", str(output), "--logits",
                     "--videos", str(tiny_root), "--num_clips", "4"])
    assert result.source == f"videos under {tiny_root}" and result.clips == 4 and result.passed(1e-4)
    exported = load_clip_model(output)
    assert isinstance(exported, TorchScriptClipModel) and exported.output == "logits"
    assert exported.spec == load_clip_model(checkpoints["teacher"]).spec
    assert exported.spec.view == "enhanced" and exported.spec.enhancer == "gic"  # GIC is in the graph
    frames = clips_from_videos(exported.spec, find_videos(tiny_root, 2))
    # The graph returns logits; the runner's probabilities are their softmax, the checkpoint's exactly.
    assert not torch.allclose(exported.run_graph(exported.prepare(frames)).sum(1), torch.ones(2))
    torch.testing.assert_close(exported.probabilities(frames),
                               load_clip_model(checkpoints["teacher"]).probabilities(frames))


def test_a_file_of_another_model_fails_verification(tiny_root, checkpoints, student_onnx):
    teacher = load_clip_model(checkpoints["teacher"])
    frames = clips_from_videos(teacher.spec, find_videos(tiny_root, 4))
    result = verify(load_clip_model(student_onnx), teacher, frames, 1e-4, "test")
    assert not result.passed(1e-4) and result.max_abs_diff > 1e-4


def test_predict_from_the_onnx_file_writes_the_checkpoints_rows(tiny_root, checkpoints, student_onnx,
                                                                tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the config's runs/ folder
    config = ["predict", "--config", str(CONFIGS / "synthetic/distill.yaml"), *tiny_data_args(tiny_root),
              *LOCAL, "--data.num_clips=2", "--data.num_crops=3"]
    main([*config, "--ckpt_path", str(checkpoints["student"]), "--output", str(tmp_path / "ckpt.jsonl")])
    cli = main([*config, "--model_file", str(student_onnx), "--output", str(tmp_path / "onnx.jsonl")])
    assert not list(cli.model.parameters())  # no PyTorch network: onnxruntime runs the views
    rows = [[json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
            for name in ("ckpt", "onnx")]
    assert len(rows[0]) == len(rows[1]) == 10
    for from_ckpt, from_onnx in zip(*rows, strict=True):
        assert {k: v for k, v in from_ckpt.items() if k != "probs"} == \
               {k: v for k, v in from_onnx.items() if k != "probs"}
        assert from_onnx["probs"] == pytest.approx(from_ckpt["probs"], abs=1e-5)


def test_predict_from_the_file_alone_needs_no_config(tiny_root, student_onnx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The file's clip settings (4 x 28^2 clips from 32x43 frames), not the data defaults (8 x 56^2), and its
    # class names: the videos have no labels.
    main(["predict", "--model_file", str(student_onnx), "--data.dataset=videos", f"--data.root={tiny_root}",
          "--data.num_workers=0", *LOCAL, "--output", "videos.csv"])
    rows = (tmp_path / "videos.csv").read_text().splitlines()[1:]
    assert len(rows) == 40 and all(row.split(",")[2] in load_clip_model(student_onnx).spec.class_names
                                   for row in rows)


def test_predict_takes_a_checkpoint_or_a_file_not_both(tiny_root, checkpoints, student_onnx):
    with pytest.raises(ValueError, match="--ckpt_path .* or --model_file .* not both"):
        main(["predict", "--config", str(CONFIGS / "synthetic/distill.yaml"), *tiny_data_args(tiny_root),
              *LOCAL, "--ckpt_path", str(checkpoints["student"]), "--model_file", str(student_onnx)])


def test_an_unexportable_graph_names_the_backbone_and_enhancer(tmp_path):
    from dlkdd.enhance import create_enhancer

    spec = ClipSpec(clip_len=2, frame_stride=1, frame_size=(32, 32), crop_size=32, class_names=["a", "b"],
                    view="enhanced", enhancer="clahe", backbone="tiny3d")
    graph = InferenceGraph(TeacherModule(num_classes=2, backbone="tiny3d"), create_enhancer("clahe"))
    with pytest.raises(ValueError, match="backbone 'tiny3d' with enhancer 'clahe'.*cannot be exported to onnx"
                                         ".*--format torchscript"):
        export_graph(graph, spec, "onnx", tmp_path / "clahe.onnx")


def test_an_onnx_file_not_written_by_dlkdd_says_so(tmp_path):
    path = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Linear(2, 2), (torch.rand(1, 2),), str(path), dynamo=False)
    with pytest.raises(ValueError, match="not written by `dlkdd export`"):
        load_clip_model(path)


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the export extra were not installed
    with pytest.raises(ValueError, match=r'pip install -e "\.\[export\]"'):
        require("onnx", "ONNX export")


def test_the_command_reports_a_bad_checkpoint_as_one_error(tmp_path):
    run = subprocess.run([sys.executable, "-c", "from dlkdd.cli import run; run()", "export", "--ckpt_path",
                          str(tmp_path / "missing.ckpt")], capture_output=True, text=True)
    assert run.returncode == 1 and run.stderr.startswith("dlkdd: error: --ckpt_path")
    assert "Traceback" not in run.stderr


def test_watch_runs_the_onnx_file_as_it_runs_the_checkpoint(checkpoints, student_onnx, tmp_path, capsys):
    from dlkdd.synthetic.recordings import LongVideoConfig, generate_long_video
    from dlkdd.watch.command import main as watch_main

    generate_long_video(tmp_path / "night.mp4", LongVideoConfig(duration=3.0, fps=15, height=32, width=44))
    timelines = []
    # --ckpt_path is the checkpoint, --model_file the exported file; the exported file given as --ckpt_path
    # (the spelling before they had one meaning each) still runs, and says which option to use.
    runs = (("ckpt", "--ckpt_path", checkpoints["student"]), ("onnx", "--model_file", student_onnx),
            ("old", "--ckpt_path", student_onnx))
    for name, option, model in runs:
        capsys.readouterr()
        watch_main([str(tmp_path / "night.mp4"), option, str(model), "--output_dir", str(tmp_path / name),
                    "--hop", "5f"])
        deprecated = f"dlkdd: --ckpt_path {student_onnx} is an exported file, not a checkpoint: pass it as " \
                     "--model_file"
        assert (deprecated in capsys.readouterr().err) == (name == "old")
        with (tmp_path / name / "night.timeline.csv").open() as f:
            timelines.append(list(csv.DictReader(f)))
    assert timelines[2] == timelines[1]
    assert len(timelines[0]) == len(timelines[1]) > 3
    for from_ckpt, from_onnx in zip(*timelines[:2], strict=True):
        for key, value in from_ckpt.items():
            try:
                assert float(from_onnx[key]) == pytest.approx(float(value), abs=1e-5), key
            except ValueError:  # class names, times as text
                assert from_onnx[key] == value, key
