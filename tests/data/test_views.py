"""On-device views: one geometry per clip, shared by both views; enhancers brighten."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2.functional import ten_crop

from dlkdd.data import DarkVideoDataModule
from dlkdd.data.views import ViewBuilder, eval_crops, to_float_video, video_probabilities
from dlkdd.enhance import create_enhancer, list_enhancers


def _dark_batch(batch=3, frames=4, height=40, width=52, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 40, (batch, frames, height, width, 3), dtype=torch.uint8, generator=g)


def test_two_views_share_geometry_exactly():
    enhancer = create_enhancer("gic", gamma=2.5)
    builder = ViewBuilder(enhancer, crop_size=24, min_scale=0.3, hflip=True, num_crops=1)
    torch.manual_seed(0)
    views = builder(_dark_batch(), train=True, views={"original", "enhanced"})
    assert views["original"].shape == views["enhanced"].shape == (3, 3, 4, 24, 24)
    # Per-pixel enhancement of the augmented original: aligned pixel for pixel, nothing replayed.
    torch.testing.assert_close(views["enhanced"], enhancer(views["original"]))
    assert views["enhanced"].mean() > views["original"].mean()


def test_training_augmentation_is_the_same_on_every_frame():
    still = _dark_batch(frames=1).expand(-1, 5, -1, -1, -1).contiguous()
    builder = ViewBuilder(create_enhancer("identity"), 24, 0.3, True, 1)
    for seed in range(3):
        torch.manual_seed(seed)
        out = builder(still, train=True, views={"original"})["original"]
        # Equal up to float rounding (SIMD lanes differ in the last bit); another crop differs by far more.
        torch.testing.assert_close(out, out[:, :, :1].expand_as(out), atol=1e-6, rtol=0,
                                   msg="frames of one clip were augmented differently")


def test_augmentation_differs_between_clips():
    same = _dark_batch(batch=1).expand(4, -1, -1, -1, -1).contiguous()
    torch.manual_seed(0)
    out = ViewBuilder(create_enhancer("identity"), 24, 0.2, True, 1)(same, train=True, views={"original"})
    assert not torch.equal(out["original"][0], out["original"][1])


def test_without_augmentation_training_views_are_the_fixed_centre_crop():
    batch = _dark_batch()
    builder = ViewBuilder(create_enhancer("gic"), 24, 0.2, True, num_crops=3, augment=False)
    draws = [builder(batch, train=True, views={"original", "enhanced"}) for _ in range(2)]
    centre = eval_crops(to_float_video(batch), 24, 1)
    for views in draws:
        assert torch.equal(views["original"], centre)
        torch.testing.assert_close(views["enhanced"], builder.enhancer(centre))


def test_eval_views_are_video_major_and_only_requested():
    batch = _dark_batch(batch=2).unsqueeze(1).expand(-1, 2, -1, -1, -1, -1).contiguous()  # 2 clips
    views = ViewBuilder(create_enhancer("gic"), 24, 0.3, False, num_crops=3)(batch, False, {"original"})
    assert set(views) == {"original"}
    assert views["original"].shape == (2 * 2 * 3, 3, 4, 24, 24)


def test_eval_crops_cover_the_long_side():
    video = to_float_video(_dark_batch(batch=1, height=24, width=60))
    crops = eval_crops(video, 24, 3)
    torch.testing.assert_close(crops[0], video[0, ..., :24])
    torch.testing.assert_close(crops[2], video[0, ..., -24:])
    with pytest.raises(ValueError, match="crop_size"):
        eval_crops(video, 30, 1)


@pytest.mark.parametrize("name", sorted(set(list_enhancers()) - {"identity"}))
def test_enhancers_brighten_and_keep_shape_and_order(name):
    video = to_float_video(_dark_batch(batch=2))
    enhancer = create_enhancer(name)
    out = enhancer(video)
    assert out.shape == video.shape and out.dtype == video.dtype and out.device == video.device
    if getattr(enhancer, "learned", False):
        pytest.skip("an untrained learned enhancer need not brighten (test_enhance.py trains one)")
    assert out.mean() > video.mean()
    if getattr(enhancer, "monotone", True):  # False for local or per-frame curves (CLAHE, HE)
        order = torch.argsort(video.flatten())
        assert torch.all(torch.diff(out.flatten()[order]) >= -1e-6), "monotone enhancer reordered pixels"


def test_unknown_enhancer_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean 'gic'"):
        create_enhancer("gci")


def test_five_and_ten_crops_match_torchvision():
    video = to_float_video(_dark_batch(batch=1, height=30, width=40))
    ten = eval_crops(video, 24, 10)
    expected = ten_crop(video[0], [24, 24])  # (tl, tr, bl, br, centre) and their horizontal flips
    assert ten.shape == (10, 3, 4, 24, 24)
    for got, want in zip(ten, expected, strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(eval_crops(video, 24, 5), ten[:5])
    with pytest.raises(ValueError, match="num_crops must be one of"):
        eval_crops(video, 24, 4)


@pytest.mark.parametrize(("num_clips", "num_crops"), [(10, 3), (1, 10)])  # MMAction2's 10x3, DarkLight's 1x10
def test_test_protocols_give_clips_times_crops_views_per_video(tiny_root, tmp_path, num_clips, num_crops):
    data = DarkVideoDataModule(dataset="synthetic", root=str(tiny_root), clip_len=4, frame_size=(32, 43),
                               crop_size=28, num_clips=num_clips, num_crops=num_crops, eval_batch_size=2,
                               num_workers=0, manifest=str(tmp_path / "manifest.json"))
    data.setup("test")
    batch = data.on_after_batch_transfer(next(iter(data.test_dataloader())), 0)
    assert batch["num_views"] == num_clips * num_crops
    assert batch["original"].shape == (2 * num_clips * num_crops, 3, 4, 28, 28)
    logits = torch.randn(len(batch["original"]), 10)
    assert video_probabilities(logits, batch["num_views"]).shape == (2, 10)
    with pytest.raises(ValueError, match="--data.num_crops"):
        DarkVideoDataModule(dataset="synthetic", root=str(tiny_root), num_crops=2)
