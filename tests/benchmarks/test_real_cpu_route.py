"""The CPU route's benchmark: splits that never put one recording session in both train and test, and both
stages fitted and tested from a named file and from scratch (tiny3d on real mp4s, to stay fast)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from benchmarks import real_cpu_route
from dlkdd.backbones import create_backbone

# ARID-6's sessions (class, scene: clips), as ../shared/real/arid6 has them.
ARID6_SESSIONS = {("Jump", 8): 14, ("Jump", 11): 11, ("Run", 1): 6, ("Run", 11): 19, ("Sit", 2): 8,
                  ("Sit", 4): 4, ("Sit", 10): 13, ("Stand", 2): 4, ("Stand", 3): 7, ("Stand", 5): 9,
                  ("Stand", 9): 5, ("Turn", 1): 21, ("Turn", 7): 4, ("Walk", 10): 13, ("Walk", 14): 12}


def _arid_named(root: Path, sessions: dict[tuple[str, int], int], videos: list[Path]) -> Path:
    """Class folders of <Class>_<scene>_<index>.mp4, copies of real mp4s."""
    k = 0
    for (label, scene), count in sessions.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for index in range(1, count + 1):
            shutil.copy(videos[k % len(videos)], root / label / f"{label}_{scene}_{index}.mp4")
            k += 1
    return root


def test_whole_sessions_go_to_test_and_none_is_split(tiny_root, tmp_path):
    root = _arid_named(tmp_path / "arid", ARID6_SESSIONS, sorted(tiny_root.rglob("*.mp4")))

    split = real_cpu_route.scene_grouped_split(root, test_fraction=0.3)

    def sessions(stage):
        return {(label, int(path.stem.split("_")[1])) for path, label in split[stage]}

    assert not sessions("train") & sessions("test") and len(split["train"]) + len(split["test"]) == 150
    # Per class, the scenes closest to 30 % of its clips: ARID-6's 48 test clips.
    assert sessions("test") == {("Jump", 11), ("Run", 1), ("Sit", 2), ("Stand", 3), ("Turn", 7), ("Walk", 14)}


def test_a_class_of_one_session_cannot_be_tested(tiny_root, tmp_path):
    root = _arid_named(tmp_path / "one", {("Jump", 8): 3, ("Run", 1): 2, ("Run", 2): 2},
                       sorted(tiny_root.rglob("*.mp4")))
    with pytest.raises(ValueError, match="class Jump has one recording session"):
        real_cpu_route.scene_grouped_split(root, 0.3)


@pytest.mark.slow
def test_both_stages_fit_and_test_from_a_named_file_and_from_scratch(tiny_root, tmp_path, capsys):
    sessions = {(label, scene): 2 for label in ("Jump", "Run", "Sit") for scene in (1, 2)}
    root = _arid_named(tmp_path / "clips", sessions, sorted(tiny_root.rglob("*.mp4")))
    weights = tmp_path / "tiny3d.pth"
    torch.save(create_backbone("tiny3d", 5).net.state_dict(), weights)  # a bare network, another class count
    out = tmp_path / "route.json"

    real_cpu_route.main(["--root", str(root), "--weights", str(weights), "--teacher_epochs", "1",
                         "--student_epochs", "1", "--workdir", str(tmp_path / "work"), "--out", str(out),
                         "--model.init_args.backbone=tiny3d", "--data.clip_len=4",
                         "--data.frame_size=[32, 43]",
                         "--data.crop_size=28", "--data.batch_size=4", "--data.num_workers=0"])

    results = json.loads(out.read_text())
    assert results["clips"] == {"train": 6, "test": 6} and results["chance_top1"] == pytest.approx(1 / 3)
    for start in ("weights", "scratch"):
        for stage in ("teacher (GIC view)", "student + KD (dark view)"):
            run = results["runs"][start][stage]
            assert 0 <= run["test"]["test/top1"] <= 1 and Path(run["checkpoint"]).is_file()
    assert "| scratch | student + KD (dark view) |" in capsys.readouterr().out
    assert results["cpu_minutes"] > 0  # fits and tests ran here, in this process
