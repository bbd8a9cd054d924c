"""EnhancerModule: trains a Zero-DCE enhancer (Zero-DCE++ or the original Zero-DCE) on frames of the
dataset's own dark videos, with no reference images (the four non-reference losses), so a teacher can then
see the view it makes."""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from dlkdd.callbacks.broken_videos import BrokenVideoMonitor
from dlkdd.callbacks.required import required
from dlkdd.data.batch import Batch
from dlkdd.enhance import ZeroDCE, ZeroDCEV1, zero_dce_loss
from dlkdd.enhance.losses import DEFAULT_WEIGHTS

# Enhancer name -> (network, its released training script's loss weights beside DEFAULT_WEIGHTS).
NETWORKS = {
    "zero_dce_pp": (ZeroDCE, {}),
    "zero_dce": (ZeroDCE, {}),  # the old name of zero_dce_pp
    # Zero-DCE_code/lowlight_train.py: loss_TV = 200 * L_TV(A) (1600 in Zero-DCE++'s)
    "zero_dce_v1": (ZeroDCEV1, {"illumination": 200.0}),
}


def sample_frames(video: Tensor, frames_per_clip: int) -> Tensor:
    """(N,C,T,H,W) -> (N*k,C,H,W): k frames evenly spread over each clip. Neighbouring frames of a clip
    are nearly the same image, so a few per clip give the losses as much to learn from at less cost."""
    frames = video.shape[2]
    index = torch.linspace(0, frames - 1, min(frames_per_clip, frames), device=video.device).round().long()
    picked = video.index_select(2, index)
    return picked.transpose(1, 2).flatten(0, 1)


class EnhancerModule(L.LightningModule):
    """A Zero-DCE network trained on the `original` (dark) view of the data module's clips.

    The checkpoint's weights are under 'enhancer.' and its hyper-parameters hold scale_factor and
    iterations, so `--data.enhancer=<network> --data.enhancer_options='{checkpoint: PATH}'` rebuilds
    the same enhancer.

    Args:
        network: `zero_dce_pp` (Zero-DCE++, ~10k parameters; `zero_dce` is its old name) or `zero_dce_v1`
            (the original Zero-DCE, 79k parameters, 24 curve maps; its illumination weight defaults to
            the original script's 200).
        scale_factor: the curve map is estimated at 1/scale_factor resolution (see dlkdd.enhance.ZeroDCE).
        iterations: curve iterations (8 in the paper; zero_dce_v1's 24 maps fix it at 8).
        frames_per_clip: frames taken from each clip, evenly spread.
        exposure_target: the well-exposed grey level E the exposure loss pulls 16x16 patches towards.
        loss_weights: overrides of the loss weights (spatial, exposure, color, illumination).
        lr: Adam learning rate.
        weight_decay: Adam weight decay (the released Zero-DCE++ script uses 1e-4).
    """

    def __init__(
        self,
        network: str = "zero_dce_pp",
        scale_factor: int = 1,
        iterations: int = 8,
        frames_per_clip: int = 2,
        exposure_target: float = 0.6,
        loss_weights: dict[str, float] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
    ) -> None:
        super().__init__()
        if frames_per_clip < 1:
            raise ValueError(f"frames_per_clip must be >= 1, got {frames_per_clip} "
                             "(--model.init_args.frames_per_clip)")
        if not 0.0 < exposure_target < 1.0:
            raise ValueError(f"exposure_target must be in (0, 1), got {exposure_target} "
                             "(--model.init_args.exposure_target)")
        unknown = set(loss_weights or {}) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown loss_weights {sorted(unknown)} (--model.init_args.loss_weights); "
                             f"known: {sorted(DEFAULT_WEIGHTS)}")
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r} (--model.init_args.network); known: "
                             f"{sorted(NETWORKS)}")
        if network == "zero_dce_v1" and iterations != 8:
            raise ValueError(f"zero_dce_v1 applies its 24 curve maps in 8 iterations, got iterations "
                             f"{iterations} (--model.init_args.iterations): leave it at 8")
        self.save_hyperparameters()
        builder, self.network_weights = NETWORKS[network]
        options = {"iterations": iterations} if builder is ZeroDCE else {}
        self.enhancer = builder(scale_factor=scale_factor, **options)

    @property
    def input_views(self) -> set[str]:
        """Only the dark clips: the data module then never runs its own enhancer."""
        return {"original"}

    def _losses(self, batch: Batch, stage: str) -> Tensor:
        frames = sample_frames(batch["original"], self.hparams.frames_per_clip)
        enhanced, alpha = self.enhancer.curves(frames)
        weights = {**self.network_weights, **(self.hparams.loss_weights or {})}
        terms = zero_dce_loss(frames, enhanced, alpha, weights, self.hparams.exposure_target)
        # How bright the output is, beside the loss terms: the number to compare with exposure_target.
        terms["brightness"] = enhanced.detach().mean()
        self.log_dict({f"{stage}/{name}": value for name, value in terms.items()},
                      batch_size=frames.shape[0], prog_bar=stage == "train", sync_dist=stage != "train")
        return terms["loss"]

    def training_step(self, batch: Batch | None, batch_idx: int) -> Tensor | None:
        return None if batch is None else self._losses(batch, "train")

    def validation_step(self, batch: Batch | None, batch_idx: int) -> None:
        if batch is not None:
            self._losses(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)

    def configure_callbacks(self) -> list[L.Callback]:
        # The rule of dlkdd.callbacks; only the broken-video counts: VideoClassifier's resume and fault
        # callbacks were never this module's (ExactResume's reseeding would change what it trains).
        return required(self._trainer, BrokenVideoMonitor())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["dlkdd"] = {"module": type(self).__name__}
