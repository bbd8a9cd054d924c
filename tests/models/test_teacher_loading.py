"""load_teacher refuses every teacher it cannot use, and each message names the option and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlkdd.models import DistillModule, TeacherModule, load_teacher
from tests.conftest import save_as_fit_would

OPTION = "--model.init_args.teacher_checkpoint"
CLASSES = ["drink", "jump", "run"]


def test_a_good_teacher_loads_with_its_weights(tmp_path: Path) -> None:
    saved = TeacherModule(num_classes=3, class_names=CLASSES)
    teacher = load_teacher(save_as_fit_would(saved, tmp_path / "teacher.ckpt"), 3, CLASSES)
    for name, tensor in saved.state_dict().items():
        assert teacher.state_dict()[name].equal(tensor)


def test_missing_file_names_the_option_and_how_to_train_one(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_teacher(tmp_path / "nope.ckpt", 3, CLASSES)
    message = str(err.value)
    assert "nope.ckpt" in message and OPTION in message and "dlkdd fit --config" in message


def refusal(module, tmp_path: Path) -> str:
    """What load_teacher says of `module`, saved as fit saves it, as the teacher of a 3-class student."""
    path = save_as_fit_would(module, tmp_path / f"{type(module).__name__}.ckpt")
    with pytest.raises(ValueError) as err:
        load_teacher(path, 3, CLASSES)
    return str(err.value)


def test_a_student_checkpoint_is_not_a_teacher(tmp_path: Path) -> None:
    student = DistillModule(num_classes=3, teacher_checkpoint="unused.ckpt", class_names=CLASSES)
    message = refusal(student, tmp_path)
    assert "DistillModule" in message and OPTION in message and "TeacherModule" in message


def test_a_teacher_of_another_class_count_is_refused(tmp_path: Path) -> None:
    message = refusal(TeacherModule(num_classes=4, class_names=[*CLASSES, "wave"]), tmp_path)
    assert "4 classes" in message and OPTION in message and "--data.dataset" in message


def test_a_teacher_of_other_class_names_is_refused(tmp_path: Path) -> None:
    message = refusal(TeacherModule(num_classes=3, class_names=["drink", "run", "jump"]), tmp_path)
    assert "'run'" in message and "'jump'" in message and OPTION in message and "--data.root" in message
    assert "\n" not in message  # one paragraph
