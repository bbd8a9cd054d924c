"""`dlkdd preview` on the tiny dataset: a PNG and an mp4 that decode back to the promised layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dlkdd.data.decode import decode_clip, probe
from dlkdd.enhance import ZeroDCE
from dlkdd.preview import GAP, HEADER_HEIGHT, main
from tests.conftest import shared_file, tiny_data_args


def test_preview_writes_a_picture_and_a_video_of_every_enhancer(tiny_root, tmp_path):
    checkpoint = tmp_path / "zero_dce.ckpt"
    torch.save(ZeroDCE().state_dict(), checkpoint)
    png, mp4 = main([
        *tiny_data_args(tiny_root, from_scratch=False),
        "--data.enhancer=gic", "--data.enhancer_options={gamma: 3.0}",
        "--enhancers=[gic, clahe, zero_dce]",
        f"--enhancer_options={{zero_dce: {{checkpoint: {checkpoint}}}}}",
        "--clips=2", "--frames=2", "--scale=1", f"--out={tmp_path / 'preview'}",
    ])
    height, width = 32, 43  # tiny_data_args' frame_size
    columns, rows, clip_len = 4, 2 * 2, 4  # original + 3 enhancers; clips x frames; --data.clip_len
    picture = np.asarray(Image.open(png).convert("RGB"))
    assert picture.shape == (HEADER_HEIGHT + rows * (height + GAP), columns * (width + GAP), 3)
    first_row = picture[HEADER_HEIGHT : HEADER_HEIGHT + height]
    original, gamma = first_row[:, :width], first_row[:, width + GAP : 2 * width + GAP]
    assert gamma.mean() > original.mean() + 30  # the gic column is the brightened original

    assert probe(mp4).num_frames == clip_len
    video_size = (HEADER_HEIGHT + 2 * (height + GAP), columns * (width + GAP))  # one row per clip
    frames = decode_clip(mp4, list(range(clip_len)), video_size)
    assert frames.shape[0] == clip_len and frames[:, HEADER_HEIGHT:, width + GAP :].mean() > 30


def test_preview_names_the_option_of_an_unknown_enhancer(tiny_root, tmp_path):
    with pytest.raises(KeyError, match=r"option --enhancers\). Did you mean 'gic'"):
        main([*tiny_data_args(tiny_root, from_scratch=False), "--enhancers=[gci]", f"--out={tmp_path}"])


def test_preview_of_real_dark_clips_from_any_folder(arid6, tmp_path):
    """The docs' enhancer picture of real footage: ARID clips, the shipped folder config named from a folder
    without configs/, the authors' Zero-DCE weights; every enhancer brightens the real dark frames."""
    zero_dce = shared_file("weights/zero_dce_Epoch99.pth")
    png, _ = main(["--data", "configs/folder/data.yaml", f"--data.root={arid6}", "--data.num_workers=0",
                   "--clips=1", "--frames=1", "--scale=1", "--enhancers=[gic, clahe, zero_dce_v1]",
                   f"--enhancer_options={{zero_dce_v1: {{checkpoint: {zero_dce}}}}}", f"--out={tmp_path}"])
    picture = np.asarray(Image.open(png).convert("RGB"))[HEADER_HEIGHT:].astype(float)
    columns = np.array_split(picture, 4, axis=1)
    assert all(c.mean() > columns[0].mean() + 10 for c in columns[1:]), [c.mean() for c in columns]
