"""`dlkdd predict --model_file student.onnx`: an exported file in place of a checkpoint.

The data pipeline is the checkpoint path's: the data module's predict loader, its evaluation views
(num_clips x num_crops per video) and the PredictionWriter's rows and files. Only the network differs:
the file's runner (onnxruntime or torch.jit) takes the views, and no PyTorch network is built. The clip
settings (clip_len, frame_stride, frame_size, crop_size) and class names come from the file's metadata.
"""

from __future__ import annotations

import lightning as L
from jsonargparse import Namespace

from dlkdd.data.batch import Batch, Predictions
from dlkdd.inference.clip_model import ClipModel, load_clip_model


class ExportedFileModule(L.LightningModule):
    """Lightning's predict loop around an exported file's runner (a LightningModule without parameters,
    so the Trainer drives the data module as for a checkpoint).

    Args:
        model_file: a file written by `dlkdd export` (.onnx, .pt, .ts).
    """

    def __init__(self, model_file: str | None = None) -> None:
        super().__init__()
        if model_file is None:  # `dlkdd predict` without --config: this module is the default model
            raise ValueError("dlkdd predict needs trained weights: --model_file FILE (written by `dlkdd "
                             "export`), or --ckpt_path CKPT (written by `dlkdd fit`).")
        self.save_hyperparameters()
        self.runner: ClipModel = load_clip_model(model_file)
        self.hparams["class_names"] = self.runner.spec.class_names  # the names PredictionWriter writes

    @property
    def input_views(self) -> set[str]:
        return {"original"}  # the raw dark clip: a teacher's enhancer is inside the exported graph

    def on_predict_start(self) -> None:
        if self.device != self.runner.device:  # the Trainer's accelerator, e.g. cuda (onnxruntime-gpu)
            self.runner = load_clip_model(self.hparams.model_file, self.device)

    def predict_step(self, batch: Batch | None, batch_idx: int) -> Predictions | None:
        if batch is None:  # every video of the batch was unreadable: rows with their error
            return None
        probs = self.runner.run(batch["original"]).float().cpu()
        # Softmax averaged over each video's views, as VideoClassifier.predict_step (video_probabilities).
        probs = probs.view(-1, batch["num_views"], probs.shape[-1]).mean(dim=1)
        return {"index": batch["index"], "probs": probs, "label": batch["label"]}


def use_model_file(config: Namespace) -> None:
    """Point a parsed `dlkdd predict` config at the exported file: its runner as the model, and the data
    cut as the file says (the config's clip settings may belong to another model)."""
    if config.ckpt_path:
        raise ValueError("dlkdd predict takes --ckpt_path (a checkpoint) or --model_file (an exported "
                         f"file), not both: got --ckpt_path {config.ckpt_path} and --model_file "
                         f"{config.model_file}.")
    spec = load_clip_model(config.model_file).spec
    config.model = Namespace(class_path=f"{__name__}.ExportedFileModule",
                             init_args=Namespace(model_file=str(config.model_file)))
    data = config.data
    for option, value in spec.clip_options().items():
        setattr(data, option, value)
    if data.class_names is None:
        data.class_names = spec.class_names
