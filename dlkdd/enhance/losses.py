"""The four non-reference losses that train Zero-DCE / Zero-DCE++ (Li et al., CVPR 2020, TPAMI 2021)
from dark frames alone. All take frames (N,3,H,W) in [0,1].

Where the paper's equations and the released Zero-DCE++ code (Li-Chongyi/Zero-DCE_extension, whose
loss weights we reuse) differ, each docstring says which form is used. Average pooling uses
ceil_mode so that every pixel counts and frames need not be multiples of the region size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Weights of the released Zero-DCE++ training script (lowlight_train.py; Zero-DCE's used TV 200):
# spatial 1, exposure 10, colour 5, illumination 1600. Taken from the code rather than the papers'
# text because the released models were trained with them, on the code's forms of the terms.
DEFAULT_WEIGHTS = {"spatial": 1.0, "exposure": 10.0, "color": 5.0, "illumination": 1600.0}


def _region_means(frames: Tensor, region: int) -> Tensor:
    """(N,3,H,W) -> (N,1,H/region,W/region): mean grey level of each region x region patch."""
    return F.avg_pool2d(frames.mean(dim=1, keepdim=True), region, ceil_mode=True)


def spatial_consistency_loss(frames: Tensor, enhanced: Tensor, region: int = 4) -> Tensor:
    """L_spa: keeps the contrast between neighbouring regions. Grey images are averaged over
    region x region patches, and for every pair of 4-neighbour patches the difference of their
    gradient before and after enhancement is squared. Signed differences, as in the released code
    (the paper writes |.| around each, which would let an edge flip unpenalised); unlike that code,
    whose zero padding compares border patches with black, only pairs inside the frame count. Each
    pair is counted from both ends and the sum divided by the number of patches, as the paper's
    sum over each patch's four neighbours is."""
    diff = _region_means(enhanced, region) - _region_means(frames, region)
    vertical = (diff[..., 1:, :] - diff[..., :-1, :]).pow(2).sum(dim=(1, 2, 3))
    horizontal = (diff[..., :, 1:] - diff[..., :, :-1]).pow(2).sum(dim=(1, 2, 3))
    patches = diff.shape[-2] * diff.shape[-1]
    return (2 * (vertical + horizontal) / patches).mean()


def exposure_control_loss(enhanced: Tensor, target: float = 0.6, region: int = 16) -> Tensor:
    """L_exp: pulls the mean grey level of every region x region patch towards the well-exposed
    level E (0.6). Absolute deviation as in the paper (the released code squares it)."""
    return (_region_means(enhanced, region) - target).abs().mean()


def color_constancy_loss(enhanced: Tensor) -> Tensor:
    """L_col: grey-world prior, the mean of each channel over the image should agree. With
    D_pq = (mean_p - mean_q)^2 for the pairs RG, RB, GB, the paper sums the D_pq; the released code
    (whose weight 5 we use) takes sqrt(sum D_pq^2) per image, which is what this computes. A vector
    norm rather than a bare sqrt: its gradient is 0, not NaN, for an exactly grey image."""
    red, green, blue = enhanced.mean(dim=(2, 3)).unbind(dim=1)
    pairs = torch.stack([(red - green).pow(2), (red - blue).pow(2), (green - blue).pow(2)], dim=1)
    return torch.linalg.vector_norm(pairs, dim=1).mean()


def illumination_smoothness_loss(alpha: Tensor) -> Tensor:
    """L_tvA: total variation of the curve map alpha (N,3,H,W), so that neighbouring pixels get
    similar curves and the monotone relation between them survives. Squared differences, normalised
    as the released code does (2 x the sum over channels of the mean squared vertical and horizontal
    difference), so that its weight 1600 applies; the paper writes (|grad_x| + |grad_y|)^2."""
    vertical = (alpha[..., 1:, :] - alpha[..., :-1, :]).pow(2).mean(dim=(0, 2, 3)).sum()
    horizontal = (alpha[..., :, 1:] - alpha[..., :, :-1]).pow(2).mean(dim=(0, 2, 3)).sum()
    return 2 * (vertical + horizontal)


def zero_dce_loss(
    frames: Tensor,
    enhanced: Tensor,
    alpha: Tensor,
    weights: dict[str, float] | None = None,
    exposure_target: float = 0.6,
) -> dict[str, Tensor]:
    """The weighted Zero-DCE objective for `ZeroDCE.curves(frames)` -> (enhanced, alpha).

    Returns each unweighted term under its name (spatial, exposure, color, illumination) and their
    weighted sum under "loss". `weights` overrides some or all of DEFAULT_WEIGHTS; `exposure_target`
    is the well-exposed grey level E of the exposure term."""
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    unknown = set(weights) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise ValueError(
            f"zero_dce_loss: unknown weights {sorted(unknown)}; known: {sorted(DEFAULT_WEIGHTS)}"
        )
    terms = {
        "spatial": spatial_consistency_loss(frames, enhanced),
        "exposure": exposure_control_loss(enhanced, exposure_target),
        "color": color_constancy_loss(enhanced),
        "illumination": illumination_smoothness_loss(alpha),
    }
    terms["loss"] = sum(weights[name] * value for name, value in terms.items())
    return terms
