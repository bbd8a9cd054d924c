"""The annotated video: every input frame (optionally brightened for human eyes with a dlkdd enhancer
the model never sees), the current top-k classes written on it and a timeline bar of the last
`bar_seconds` burnt in at the bottom; same frame times as the input, so same fps and duration.

A frame is labelled with the latest window whose cell has begun by the frame's time, so each frame
waits until the next window's result is known; at most `max_wait` frames wait (after that the oldest
goes out with the newest result), which keeps memory bounded whatever the hop.
"""

from __future__ import annotations

import math
from collections import deque
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageDraw

from dlkdd.video import VideoWriter
from dlkdd.watch.source import Frame
from dlkdd.watch.windows import Window

# Matplotlib's tab10: one colour per class in the bar (cycled for more classes).
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
MIN_HEIGHT = 240  # small inputs are scaled up so the text stays readable


class AnnotatedVideo:
    def __init__(self, path: Path, class_names: list[str], fps: Fraction, time_base: Fraction,
                 width: int, height: int, top_k: int = 3, enhancer: torch.nn.Module | None = None,
                 confident: float = 0.5, bar_seconds: float = 30.0, max_wait: int = 256) -> None:
        self.class_names, self.top_k, self.enhancer = class_names, min(top_k, len(class_names)), enhancer
        self.confident, self.bar_seconds, self.max_wait = confident, bar_seconds, max_wait
        scale = max(1, math.ceil(MIN_HEIGHT / height))
        self.width, self.height = 2 * ((width * scale + 1) // 2), 2 * ((height * scale + 1) // 2)
        self.bar_height = max(6, self.height // 24)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = VideoWriter(path, self.width, self.height, fps, time_base=time_base, threads=None,
                                  options={"crf": "23", "preset": "veryfast"})
        self.time_base = time_base
        self.waiting: deque[tuple[float, int, np.ndarray]] = deque()  # (time, pts, rgb) of frames
        self.results: deque[tuple[tuple[float, float], int, list[int], list[float]]] = deque()
        self.history: deque[tuple[float, float, int, float]] = deque()  # the bar: (start, end, class, p)
        self.reformatter = VideoReformatter()
        self.last_pts = -1

    @property
    def frames(self) -> int:
        """Written so far."""
        return self.writer.frames

    def add_frame(self, frame: Frame) -> None:
        # Source size: brightened there, then scaled. One reformatter for the whole video: a frame's own
        # to_ndarray() builds a new swscale context each call (~1 ms; this is ~0.04 ms).
        rgb = self.reformatter.reformat(frame.video, format="rgb24").to_ndarray()
        pts = max(self.last_pts + 1, round(frame.time / self.time_base))  # strictly increasing
        self.last_pts = pts
        self.waiting.append((frame.time, pts, rgb))
        if len(self.waiting) > self.max_wait:
            self._emit(1)

    def add_result(self, window: Window, probs: torch.Tensor) -> None:
        top = probs.topk(self.top_k)
        self.results.append((window.cell, window.index, top.indices.tolist(), top.values.tolist()))
        # A frame is ready once a later result's cell has begun by then: its own result is known.
        ready = 0
        while ready < len(self.waiting) and self.waiting[ready][0] < window.cell[0]:
            ready += 1
        self._emit(ready)

    def _emit(self, count: int) -> None:
        for _ in range(count):
            t, pts, rgb = self.waiting.popleft()
            while len(self.results) >= 2 and self.results[1][0][0] <= t:
                self.results.popleft()
            result = self.results[0] if self.results else None
            if result is not None and (not self.history or self.history[-1][0] != result[0][0]):
                self.history.append((result[0][0], result[0][1], result[2][0], result[3][0]))
            while self.history and self.history[0][1] < t - self.bar_seconds:
                self.history.popleft()
            self.writer.write(self._draw(self._brighten(rgb), t, result), pts)

    def _brighten(self, rgb: np.ndarray) -> np.ndarray:
        if self.enhancer is None:
            return rgb
        with torch.inference_mode():
            video = torch.from_numpy(rgb).permute(2, 0, 1)[None, :, None].float().div_(255)
            out = self.enhancer(video)[0, :, 0].permute(1, 2, 0).numpy()
        # Back to uint8 in numpy: torch's round_ on this one small channels-last frame took ~8 ms
        # (profiled: the largest cost of an annotated frame); numpy's takes microseconds, same bytes.
        return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)

    def _draw(self, rgb: np.ndarray, t: float, result) -> np.ndarray:
        image = Image.fromarray(np.ascontiguousarray(rgb))
        if image.size != (self.width, self.height):
            image = image.resize((self.width, self.height), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(image)
        lines = [f"{t:8.2f} s"]
        if result is not None:
            width = max(len(self.class_names[k]) for k in result[2])
            lines += [f"{self.class_names[k]:<{width}} {p:.2f}"
                      for k, p in zip(result[2], result[3], strict=True)]
        box = draw.multiline_textbbox((4, 3), "\n".join(lines))
        draw.rectangle((0, 0, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
        draw.multiline_text((4, 3), "\n".join(lines), fill=(255, 255, 255))
        # The bar: top-1 class of the last bar_seconds (dim: under the confidence threshold), now at right.
        y0, left = self.height - self.bar_height, t - self.bar_seconds
        draw.rectangle((0, y0, self.width, self.height), fill=(20, 20, 20))
        for start, end, label, p in self.history:
            if end < left or start > t:
                continue
            x0 = max(0, round((start - left) / self.bar_seconds * self.width))
            x1 = min(self.width, round((min(end, t) - left) / self.bar_seconds * self.width))
            color = PALETTE[label % len(PALETTE)] if p >= self.confident else (70, 70, 70)
            draw.rectangle((x0, y0 + 1, max(x0, x1 - 1), self.height - 1), fill=color)
        return np.asarray(image)

    def close(self) -> None:
        self._emit(len(self.waiting))
        self.writer.close()
