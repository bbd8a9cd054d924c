"""HE, CLAHE and the learned Zero-DCE++ and original Zero-DCE enhancers with their non-reference losses."""

from __future__ import annotations

import kornia.enhance
import pytest
import torch
import torch.nn.functional as F

from dlkdd.enhance import ZeroDCE, ZeroDCEV1, create_enhancer, zero_dce_loss
from dlkdd.enhance.losses import (
    color_constancy_loss,
    exposure_control_loss,
    illumination_smoothness_loss,
    spatial_consistency_loss,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _dark_video(batch=2, frames=3, height=22, width=30, seed=0) -> torch.Tensor:
    """Float (B,3,T,H,W) in [0, 0.15]; H, W not multiples of the CLAHE grid or Zero-DCE scale."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, height, width, generator=g) * 0.15


def _dark_frames(count=4, size=32, seed=0) -> torch.Tensor:
    """(N,3,H,W): a smooth random scene at ~5% brightness plus a little sensor noise."""
    g = torch.Generator().manual_seed(seed)
    scene = F.interpolate(torch.rand(count, 3, 4, 4, generator=g), size=(size, size), mode="bilinear")
    return 0.1 * scene + 0.01 * torch.rand(count, 3, size, size, generator=g)


@pytest.fixture
def one_thread():
    """Tiny convs train several times faster on one thread than on threads contending for busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("name", "options"),
    [("he", {}), ("clahe", {}), ("zero_dce", {}), ("zero_dce", {"scale_factor": 4}), ("zero_dce_v1", {}),
     ("zero_dce_v1", {"scale_factor": 2})],
)
def test_enhancers_keep_shape_dtype_device_and_range(name, options, device):
    video = _dark_video().to(device)
    enhancer = create_enhancer(name, **options)
    out = enhancer(video)
    assert out.shape == video.shape and out.dtype == video.dtype and out.device == video.device
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(enhancer(video), out), "enhancer is not deterministic"


@pytest.mark.parametrize(
    ("name", "image_op"),
    [("he", kornia.enhance.equalize), ("clahe", lambda x: kornia.enhance.equalize_clahe(x, 2.0, (4, 4)))],
)
def test_histogram_equalizers_brighten_each_frame_as_an_image(name, image_op):
    video = _dark_video()
    out = create_enhancer(name)(video)
    assert out.mean() > video.mean() + 0.1
    # The (B,C,T,H,W) <-> (B*T,C,H,W) round trip must not mix frames or channels.
    torch.testing.assert_close(out[1, :, 2], image_op(video[1, :, 2].unsqueeze(0))[0])


def test_clahe_accepts_yaml_types_and_names_the_option_for_small_frames():
    # YAML gives an int clip_limit and a list grid_size; kornia wants a float and a tuple.
    clahe = create_enhancer("clahe", clip_limit=3, grid_size=[2, 3])
    assert clahe(_dark_video()).shape == _dark_video().shape
    with pytest.raises(ValueError, match="enhancer_options.grid_size"):
        create_enhancer("clahe", grid_size=(8, 8))(_dark_video(height=8))


def test_zero_dce_has_about_10k_parameters():
    assert 5_000 < sum(p.numel() for p in ZeroDCE().parameters()) < 15_000


def test_zero_dce_loss_terms_vanish_at_their_optimum():
    frames = _dark_frames(count=2)
    grey = torch.full_like(frames, 0.6, requires_grad=True)
    assert spatial_consistency_loss(frames, frames) == 0
    assert exposure_control_loss(grey) < 1e-6
    color_constancy_loss(grey).backward()
    assert torch.equal(grey.grad, torch.zeros_like(grey)), "colour loss gradient must be 0, not NaN"
    assert illumination_smoothness_loss(torch.full_like(frames, 0.3)) == 0
    with pytest.raises(ValueError, match="unknown weights"):
        zero_dce_loss(frames, frames, frames, weights={"colour": 1.0})



def _train_30_steps(make_net, weights=None):
    """Seed 0, dark frames, a new net, 30 Adam steps on the non-reference losses:
    (frames, net, losses, final brightness, the last step's loss terms)."""
    torch.manual_seed(0)
    frames = _dark_frames()
    net = make_net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        enhanced, curve_maps = net.curves(frames)
        terms = zero_dce_loss(frames, enhanced, curve_maps, weights=weights)
        losses.append(terms["loss"].item())
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
    with torch.no_grad():
        brightness = net.curves(frames)[0].mean().item()
    return frames, net, losses, brightness, terms


def test_zero_dce_training_lowers_the_losses_and_brightens_towards_the_exposure_target(one_thread):
    frames, _, losses, brightness, terms = _train_30_steps(ZeroDCE)
    assert set(terms) == {"spatial", "exposure", "color", "illumination", "loss"}
    assert losses[-1] < 0.3 * losses[0], losses
    assert frames.mean() < 0.07 and 0.4 < brightness < 0.8, brightness  # exposure target E = 0.6


@pytest.mark.parametrize("lightning", [True, False])
def test_zero_dce_checkpoint_round_trip(tmp_path, lightning):
    torch.manual_seed(1)
    # A Lightning checkpoint carries the training options: the loader must rebuild the same curves.
    trained = (ZeroDCE(scale_factor=2, iterations=4) if lightning else ZeroDCE()).eval()
    state = trained.state_dict()
    checkpoint = (
        {
            "epoch": 3,
            "state_dict": {f"enhancer.{k}": v for k, v in state.items()},
            "hyper_parameters": {"scale_factor": 2, "iterations": 4, "lr": 1e-3},
        }
        if lightning
        else state
    )
    torch.save(checkpoint, tmp_path / "zero_dce.ckpt")
    loaded = create_enhancer("zero_dce", checkpoint=str(tmp_path / "zero_dce.ckpt"))
    assert (loaded.scale_factor, loaded.iterations) == (trained.scale_factor, trained.iterations)
    video = _dark_video()
    torch.testing.assert_close(loaded(video), trained(video))
    explicit = create_enhancer("zero_dce", checkpoint=str(tmp_path / "zero_dce.ckpt"), iterations=3)
    assert explicit.iterations == 3


def test_zero_dce_checkpoint_errors_name_the_option_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--data\.enhancer_options\.checkpoint.*dlkdd fit --config"):
        create_enhancer("zero_dce", checkpoint=str(tmp_path / "missing.ckpt"))
    torch.save({"state_dict": {"model.weight": torch.zeros(1)}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match=r"not match the Zero-DCE\+\+ network.*zero_dce_v1 the original"):
        create_enhancer("zero_dce", checkpoint=str(tmp_path / "other.ckpt"))
    # A Zero-DCE++ file given to the original network (or the reverse) is named as such.
    torch.save(ZeroDCE().state_dict(), tmp_path / "pp.pth")
    with pytest.raises(ValueError, match=r"zero_dce_v1: .* does not match the Zero-DCE \(original\) network"):
        create_enhancer("zero_dce_v1", checkpoint=str(tmp_path / "pp.pth"))


def test_zero_dce_is_still_zero_dce_pp():
    assert type(create_enhancer("zero_dce")) is type(create_enhancer("zero_dce_pp")) is ZeroDCE


# The authors' Zero-DCE_code/snapshots/Epoch99.pth: a plain state_dict of enhance_net_nopool, written out
# here by name and shape (Conv2d(in, out, 3, 1, 1, bias=True) each), not taken from dlkdd's module.
RELEASED_LAYOUT = {"e_conv1": (3, 32), "e_conv2": (32, 32), "e_conv3": (32, 32), "e_conv4": (32, 32),
                   "e_conv5": (64, 32), "e_conv6": (64, 32), "e_conv7": (64, 24)}


def _released_state_dict(prefix: str = "") -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    state = {}
    for name, (in_channels, out_channels) in RELEASED_LAYOUT.items():
        state[f"{prefix}{name}.weight"] = 0.05 * torch.randn(out_channels, in_channels, 3, 3)
        state[f"{prefix}{name}.bias"] = 0.05 * torch.randn(out_channels)
    return state


@pytest.mark.parametrize("prefix", ["", "module."])  # as saved, or from an nn.DataParallel
def test_zero_dce_v1_loads_the_authors_epoch99_layout(tmp_path, prefix):
    state = _released_state_dict(prefix)
    torch.save(state, tmp_path / "Epoch99.pth")
    net = create_enhancer("zero_dce_v1", checkpoint=str(tmp_path / "Epoch99.pth"))
    assert isinstance(net, ZeroDCEV1)
    result = ZeroDCEV1().load_state_dict({k.removeprefix(prefix): v for k, v in state.items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert sum(p.numel() for p in net.parameters()) == 79_416  # the released network's size
    for key, value in state.items():
        assert torch.equal(net.state_dict()[key.removeprefix(prefix)], value)

    # The released forward, by hand: 7 convs with skips, tanh, then x = x + r_i * (x^2 - x) for 8 r_i.
    frames = _dark_frames(count=2)
    w = {k.removeprefix(prefix): v for k, v in state.items()}

    def conv(name, x):
        return F.conv2d(x, w[f"{name}.weight"], w[f"{name}.bias"], padding=1)

    x1 = F.relu(conv("e_conv1", frames))
    x2 = F.relu(conv("e_conv2", x1))
    x3 = F.relu(conv("e_conv3", x2))
    x4 = F.relu(conv("e_conv4", x3))
    x5 = F.relu(conv("e_conv5", torch.cat([x3, x4], 1)))
    x6 = F.relu(conv("e_conv6", torch.cat([x2, x5], 1)))
    r = torch.tanh(conv("e_conv7", torch.cat([x1, x6], 1)))
    x = frames
    for i in range(8):
        x = x + r[:, 3 * i:3 * i + 3] * (torch.pow(x, 2) - x)
    with torch.no_grad():
        enhanced, curve_maps = net.curves(frames)
    torch.testing.assert_close(curve_maps, r)
    torch.testing.assert_close(enhanced, x)


def test_zero_dce_v1_trains_with_the_same_losses(one_thread):
    frames, net, losses, brightness, _ = _train_30_steps(ZeroDCEV1, weights={"illumination": 200.0})
    assert net.curves(frames)[1].shape[1] == 24
    assert losses[-1] < 0.75 * losses[0], losses
    assert frames.mean() < 0.07 and 0.3 < brightness < 0.8, brightness  # towards the exposure target 0.6
