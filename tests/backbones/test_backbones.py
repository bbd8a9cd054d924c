"""Backbone registry: every entry runs at its minimum input, weights load offline, errors say what to do."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torchvision.models.video import r3d_18

from dlkdd.backbones import (
    Backbone,
    create_backbone,
    forward_with_features,
    get_backbone_spec,
    kinetics_weights_file,
    list_backbones,
    load_backbone_weights,
    register_backbone,
)

WEIGHTS_LOGGER = "dlkdd.backbones.weights"


@pytest.fixture
def hub_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty torch hub cache, so no test can see (or depend on) weights on the machine."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    yield tmp_path
    torch.hub.set_dir(old)


def _trained_tiny(num_classes: int = 5, seed: int = 0) -> Backbone:
    """tiny3d with non-default BatchNorm statistics, so a round trip also has to restore buffers."""
    torch.manual_seed(seed)
    backbone = create_backbone("tiny3d", num_classes)
    backbone(torch.rand(4, 3, 4, 32, 32))
    return backbone.eval()


def _save_lightning_style(backbone: Backbone, path: Path, prefix: str = "backbone.") -> Path:
    torch.save({"epoch": 1, "state_dict": {prefix + k: v for k, v in backbone.state_dict().items()}}, path)
    return path


def _same_outputs(a: Backbone, b: Backbone) -> bool:
    video = torch.rand(2, 3, 4, 56, 56)
    with torch.no_grad():
        return torch.equal(a.eval()(video).logits, b.eval()(video).logits)


@pytest.mark.parametrize("name", list_backbones())
def test_backbone_runs_at_minimum_input(name: str) -> None:
    backbone = create_backbone(name, num_classes=5).eval()
    spec = backbone.spec
    frames, size = spec.fixed_frames or spec.min_frames, spec.fixed_size or spec.min_size
    backbone.check_input(frames, size)
    backbone.check_input(spec.fixed_frames or 16, spec.crop_size)  # the intended crop passes too
    video = torch.rand(1, 3, frames, size, size)

    with torch.no_grad():
        out, feature_map = forward_with_features(backbone, video, spec.last_stage)

    assert out.logits.shape == (1, 5)
    assert out.features.shape == (1, spec.feature_dim)
    # Feature distillation taps `last_stage`: whatever its layout, a (B, feature_dim, T', H', W') map.
    assert feature_map.ndim == 5 and feature_map.shape[:2] == (1, spec.feature_dim)


def test_s3d_minimum_is_tight() -> None:
    backbone = create_backbone("s3d", num_classes=5).eval()
    spec = backbone.spec
    with torch.no_grad():
        for frames, size in [(spec.min_frames - 1, spec.min_size), (spec.min_frames, spec.min_size - 1)]:
            with pytest.raises(RuntimeError):
                backbone(torch.rand(1, 3, frames, size, size))


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(KeyError) as err:
        create_backbone("r3d18", num_classes=5)
    message = str(err.value)
    assert "'r3d_18'" in message and "--model.init_args.backbone" in message and "tiny3d" in message
    with pytest.raises(ValueError, match="r2plus1d_18"):  # config validation may catch ValueError
        get_backbone_spec("r2plus1d18")


def test_duplicate_registration_raises() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_backbone("tiny3d", get_backbone_spec("tiny3d"))(nn.Identity)


def test_every_kinetics_weights_name_resolves() -> None:
    names = [n for n in list_backbones() if get_backbone_spec(n).kinetics_weights]
    assert {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t"} <= set(names)
    for name in names:
        path, url = kinetics_weights_file(get_backbone_spec(name).kinetics_weights)
        assert path.suffix == ".pth" and url.endswith(path.name)


def test_lightning_checkpoint_round_trip(tmp_path: Path) -> None:
    source = _trained_tiny()
    path = _save_lightning_style(source, tmp_path / "teacher.ckpt")

    torch.manual_seed(1)  # a different random init, so equal outputs prove the load
    loaded = create_backbone("tiny3d", num_classes=5, pretrained=str(path))

    assert _same_outputs(source, loaded)


def test_distillation_checkpoint_loads_the_student(tmp_path: Path) -> None:
    student, teacher = _trained_tiny(seed=0), _trained_tiny(seed=1)
    state = {f"student.{k}": v for k, v in student.state_dict().items()}
    state |= {f"teacher.{k}": v for k, v in teacher.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "kd.ckpt")

    report = load_backbone_weights(loaded := create_backbone("tiny3d", 5), tmp_path / "kd.ckpt")

    assert report.prefix == "student." and len(report.ignored) == len(teacher.state_dict())
    assert _same_outputs(student, loaded)


def test_head_of_another_class_count_is_replaced_with_one_info_line(tmp_path: Path, caplog) -> None:
    source = _trained_tiny(num_classes=5)
    path = _save_lightning_style(source, tmp_path / "five.ckpt")
    target = create_backbone("tiny3d", num_classes=7)

    with caplog.at_level(logging.INFO, logger=WEIGHTS_LOGGER):
        report = load_backbone_weights(target, path)

    assert report.head_replaced == ["backbone.head.weight", "backbone.head.bias"] and not report.skipped
    assert report.missing == ["head.weight", "head.bias"] and not report.missing_backbone
    assert torch.equal(target.net.features[0][0].weight, source.net.features[0][0].weight)
    assert [r.levelname for r in caplog.records] == ["INFO"]  # the expected swap is no warning
    assert "a new head for 7 classes" in caplog.text and "head is for 5 classes" in caplog.text


def test_bare_torchvision_state_dict_loads_into_net_and_its_head_is_replaced(tmp_path: Path, caplog) -> None:
    source = _trained_tiny()
    torch.save(source.net.state_dict() | {"fc.weight": torch.zeros(400, 128)}, tmp_path / "net.pth")

    with caplog.at_level(logging.INFO, logger=WEIGHTS_LOGGER):
        loaded = create_backbone("tiny3d", num_classes=5, pretrained=str(tmp_path / "net.pth"))
    report = load_backbone_weights(loaded, tmp_path / "net.pth")

    assert report.head_replaced == ["fc.weight"] and not report.unexpected and report.source_classes == 400
    assert not any(r.levelname == "WARNING" for r in caplog.records)
    assert torch.equal(loaded.net.features[3][1].running_var, source.net.features[3][1].running_var)


def test_what_a_user_should_worry_about_is_a_warning(tmp_path: Path, caplog) -> None:
    state = _trained_tiny().net.state_dict()
    first = next(iter(state))
    del state[first]  # a backbone tensor the file lacks
    state["extra.weight"] = torch.zeros(3)  # a tensor that fits nowhere
    torch.save(state, tmp_path / "partial.pth")

    with caplog.at_level(logging.WARNING, logger=WEIGHTS_LOGGER):
        report = load_backbone_weights(create_backbone("tiny3d", num_classes=5), tmp_path / "partial.pth")

    assert report.missing_backbone == [f"net.{first}"] and report.unexpected == ["extra.weight"]
    assert f"net.{first}" in caplog.text and "extra.weight" in caplog.text


def test_checkpoint_without_matching_keys_raises(tmp_path: Path) -> None:
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"encoder.conv.weight": torch.zeros(8, 3, 3, 3)}}, path)
    with pytest.raises(ValueError, match="other.ckpt"):
        create_backbone("tiny3d", num_classes=5, pretrained=str(path))


def test_missing_checkpoint_names_path_and_option(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt.*pretrained"):
        create_backbone("tiny3d", num_classes=5, pretrained=str(tmp_path / "nope.ckpt"))


def test_kinetics_weights_load_from_hub_cache(hub_dir: Path) -> None:
    state = r3d_18().state_dict()
    (hub_dir / "checkpoints").mkdir()
    torch.save(state, hub_dir / "checkpoints" / "r3d_18-b3b3357e.pth")

    backbone = create_backbone("r3d_18", num_classes=5, pretrained="kinetics400")

    assert torch.equal(backbone.net.stem[0].weight, state["stem.0.weight"])
    assert torch.equal(backbone.net.layer4[1].conv2[0].weight, state["layer4.1.conv2.0.weight"])


def test_kinetics_weights_for_entry_without_them_suggest_a_path(hub_dir: Path) -> None:
    with pytest.raises(ValueError, match="pretrained=<path>"):
        create_backbone("tiny3d", num_classes=5, pretrained="kinetics400")


def test_check_input_names_the_option_to_change() -> None:
    mvit = create_backbone("mvit_v2_s", num_classes=5)
    with pytest.raises(ValueError, match=r"'mvit_v2_s'.*exactly 16 frames.*clip_len=16"):
        mvit.check_input(clip_len=8, crop_size=224)
    with pytest.raises(ValueError, match=r"exactly 224.*crop_size=224"):
        mvit.check_input(clip_len=16, crop_size=112)
    tiny = create_backbone("tiny3d", num_classes=5)
    with pytest.raises(ValueError, match=r"'tiny3d'.*at least 16.*crop_size to >= 16"):
        tiny.check_input(clip_len=8, crop_size=8)


def _moving_squares(
    n: int, frames: int = 8, size: int = 32, side: int = 6, step: int = 2
) -> tuple[Tensor, Tensor]:
    """Squares moving right (label 1) or left (0); a left clip is a right clip played backwards."""
    video, labels = torch.zeros(n, 3, frames, size, size), torch.randint(0, 2, (n,))
    span = step * (frames - 1)
    for i in range(n):
        row = int(torch.randint(0, size - side, ()))
        start = int(torch.randint(0, size - side - span, ()))
        colour = (torch.rand(3) * 0.5 + 0.5)[:, None, None]
        for t in range(frames):
            col = start + (step * t if labels[i] else span - step * t)
            video[i, :, t, row : row + side, col : col + side] = colour
    return video, labels


@pytest.mark.parametrize("name", ["tiny3d", "tiny_r2plus1d"])
def test_tiny_backbone_learns_motion_direction(name: str) -> None:
    torch.manual_seed(0)
    backbone = create_backbone(name, num_classes=2)
    optimizer = torch.optim.Adam(backbone.parameters(), lr=3e-3)
    for _ in range(60):
        video, labels = _moving_squares(16)
        loss = nn.functional.cross_entropy(backbone(video).logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    video, labels = _moving_squares(128)
    with torch.no_grad():
        accuracy = (backbone.eval()(video).logits.argmax(1) == labels).float().mean()
    assert accuracy > 0.9
