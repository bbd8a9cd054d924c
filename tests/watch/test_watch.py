"""`dlkdd watch` on real files the tests write: window times against the source's own timestamps (VFR,
a non-zero start time), a generated long recording end to end (timeline, events, alerts, annotated
video), a live FIFO followed without falling behind by a model slower than the stream, reconnection,
Ctrl-C leaving complete files, and flat memory over an hour of video."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from dlkdd.data.sources import make_source
from dlkdd.enhance import create_enhancer
from dlkdd.inference import ClipModel, load_clip_model
from dlkdd.synthetic.dataset import CLASS_NAMES
from dlkdd.synthetic.recordings import LongVideoConfig, generate_long_video
from dlkdd.video import write_video as write_frames
from dlkdd.watch import WatchOptions, watch
from dlkdd.watch.annotate import AnnotatedVideo
from dlkdd.watch.command import main as watch_main
from dlkdd.watch.source import VideoSource
from dlkdd.watch.windows import Windower
from tests.conftest import one_step_checkpoint

LOCAL = ["--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false", "--trainer.logger=false"]


@pytest.fixture(scope="module")
def student(tiny_root, tmp_path_factory) -> Path:
    """A real student checkpoint (one training step): clip_len 4, stride 3, frames 32 x 43."""
    return one_step_checkpoint("synthetic/baseline.yaml", tiny_root, tmp_path_factory.mktemp("watch-ckpt"))


def write_video(path: Path, pts: list[int], time_base: Fraction, size=(32, 32), rate=None, **metadata):
    """Frames whose brightness encodes their index, at the given presentation timestamps."""
    with av.open(str(path), "w") as container:
        container.metadata.update(metadata)
        stream = container.add_stream("libx264", rate=rate or 25)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base  # the encoder keeps every pts
        stream.options = {"preset": "ultrafast", "crf": "30"}
        for k, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((*size, 3), (40 + 8 * k) % 256, np.uint8), "rgb24")
            frame.pts, frame.time_base = p, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_window_frames_are_the_ones_shown_at_their_times_in_a_vfr_video_with_a_late_start(tmp_path):
    steps = [40, 80, 40, 20, 100, 40, 40, 60, 40, 40] * 3  # milliseconds between frames: variable rate
    pts = list(500 + np.concatenate([[0], np.cumsum(steps)]))  # the first frame is shown at 0.5 s
    path = tmp_path / "vfr.mkv"
    write_video(path, pts, Fraction(1, 1000))
    with av.open(str(path)) as container:  # the source's own view of its timestamps
        stream = container.streams.video[0]
        start = stream.start_time
        truth = [float((f.pts - start) * stream.time_base) for f in container.decode(stream)]
        rate = float(stream.average_rate)
    assert start * stream.time_base == pytest.approx(0.5)  # the case being tested: a late start

    source = VideoSource(path, (16, 16))
    windower, windows, times = None, [], []
    for frame in source:
        windower = windower or Windower(clip_len=4, frame_stride=2, fps=float(source.fps), hop=0.3)
        times.append(frame.time)
        windows += windower.push(frame)
    windows += windower.flush()
    assert times == pytest.approx(truth) and times[0] == 0.0 and float(source.fps) == rate

    # Each window's frames, independently: frame j is the last one shown by start + j * stride / fps.
    expected = []
    for k in range(100):
        samples = [k * 0.3 + j * 2 / rate for j in range(4)]
        if samples[-1] > truth[-1] + 0.5 / rate:
            break
        expected.append([max(t for t in truth if t <= s + 0.5 / rate) for s in samples])
    assert [w.times for w in windows] == [pytest.approx(e) for e in expected]
    assert [w.start for w in windows] == pytest.approx([e[0] for e in expected])
    assert [w.end for w in windows] == pytest.approx([e[-1] + 1 / rate for e in expected])
    levels = [round((float(w.frames[0].mean()) - 40) / 8) for w in windows]  # the pixels match the times
    assert levels == [truth.index(e[0]) for e in expected]


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f)) if path.suffix == ".csv" else [json.loads(line) for line in f]


def frame_times(path: Path) -> tuple[list[float], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.pts * stream.time_base) for f in container.decode(stream)]
        return times, float(stream.average_rate)


def test_a_long_recording_end_to_end(tmp_path, student, capsys):
    config = LongVideoConfig(duration=8.0, fps=15, height=32, width=44)
    annotations = json.loads(generate_long_video(tmp_path / "night.mp4", config).read_text())
    segments = annotations["segments"]
    assert segments[0]["start"] == 0 and segments[-1]["end"] == pytest.approx(8.0)
    assert all(a["end"] == b["start"] for a, b in zip(segments, segments[1:], strict=False))
    assert {s["class"] for s in segments} - {None} <= set(CLASS_NAMES)

    [summary] = watch_main([str(tmp_path / "night.mp4"), "--ckpt_path", str(student), "--output_dir",
                            str(tmp_path / "out"), "--hop", "5f", "--video", "--video_enhancer", "gic",
                            "--alert", "approach", "--alert_threshold", "0", "--alert_min_duration", "0.5",
                            "--alert_cooldown", "2", "--event_enter", "0", "--event_exit", "0"])
    timeline = rows(tmp_path / "out/night.timeline.csv")
    # Windows of 10 frames every 5 frames over 120 frames: starts 0, 1/3, ... while 10 frames remain.
    assert [float(r["start"]) for r in timeline] == pytest.approx([k / 3 for k in range(23)], abs=1e-3)
    assert all(float(r["end"]) - float(r["start"]) == pytest.approx(10 / 15, abs=1e-3) for r in timeline)
    assert timeline[3]["wall_clock"].startswith("2026-01-15T22:00:01")  # the recording's creation time + 1 s
    assert len(timeline) == summary.windows and summary.frames == 120

    records = rows(tmp_path / "out/night.events.jsonl")
    events = [r for r in records if r["type"] == "event"]
    alerts = [r for r in records if r["type"] == "alert"]
    assert events and all(e["end"] > e["start"] and e["peak"] >= e["mean"] for e in events)
    # Threshold 0 holds all along: the first alert after 0.5 s, then one per 2 s cooldown.
    gaps = np.diff([a["time"] for a in alerts])
    assert len(alerts) >= 3 and alerts[0]["time"] - alerts[0]["since"] >= 0.5 and all(gaps >= 2 - 1e-6)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert printed == alerts

    source_times, source_rate = frame_times(tmp_path / "night.mp4")
    video_times, video_rate = frame_times(tmp_path / "out/night.annotated.mp4")
    assert len(video_times) == len(source_times) == 120 and video_rate == source_rate
    assert video_times == pytest.approx(source_times)


def test_annotated_frames_keep_their_own_pixels_and_are_brightened_exactly(tmp_path):
    """Frames waiting for their result each keep their own pixels (one swscale context is reused for
    the whole video), and the brightened frame is the enhancer's output rounded to uint8."""
    write_video(tmp_path / "in.mp4", list(range(30)), Fraction(1, 15), size=(24, 32), rate=15)
    enhancer = create_enhancer("gic", gamma=3.0).eval()
    video = AnnotatedVideo(tmp_path / "out.mp4", ["a", "b"], Fraction(15), Fraction(1, 15), 32, 24,
                           enhancer=enhancer)
    decoded = list(VideoSource(tmp_path / "in.mp4", (24, 32)))
    for frame in decoded:
        video.add_frame(frame)
    kept = [rgb for _, _, rgb in video.waiting]  # no result yet: all 30 wait
    own = [f.video.to_ndarray(format="rgb24") for f in decoded]
    assert all(np.array_equal(rgb, mine) for rgb, mine in zip(kept, own, strict=True))
    assert len({int(rgb.mean()) for rgb in kept}) == 30  # 30 different frames, none overwritten
    with torch.inference_mode():
        clip = torch.from_numpy(kept[7]).permute(2, 0, 1)[None, :, None].float() / 255
        expected = (enhancer(clip)[0, :, 0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(video._brighten(kept[7]), expected) and expected.mean() > kept[7].mean()
    video.close()
    assert len(frame_times(tmp_path / "out.mp4")[0]) == 30


def test_a_folder_gives_one_timeline_per_recording(tmp_path, student):
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        write_video(tmp_path / "in" / f"{name}.mp4", list(range(20)), Fraction(1, 15), rate=15)
    summaries = watch_main([str(tmp_path / "in"), "--ckpt_path", str(student), "--output_dir",
                            str(tmp_path / "out"), "--timeline", "jsonl"])
    assert [s.frames for s in summaries] == [20, 20]
    for name in ("a", "b"):
        assert len(rows(tmp_path / "out" / f"{name}.timeline.jsonl")) == summaries[0].windows > 0


def test_a_folder_gives_the_videos_predict_reads_from_it(tmp_path, student):
    """One lister: watch FOLDER takes the files `predict --data.dataset videos` takes from the folder, a
    camcorder's MPEG-TS (.mts) and a DVR's raw H.264 export (.h264: no timestamps, frame k at k / fps)
    among them, and not the notes beside them."""
    folder = tmp_path / "in"
    (folder / "cam2").mkdir(parents=True)
    frames = np.repeat(np.arange(20, dtype=np.uint8)[:, None, None, None] * 10, 32, axis=1).repeat(32, axis=2)
    frames = np.ascontiguousarray(np.repeat(frames, 3, axis=3))
    write_frames(folder / "a.mp4", frames, 15)
    write_frames(folder / "cam2" / "b.MTS", frames, 15, container_format="mpegts")
    write_frames(folder / "c.h264", frames, 25, container_format="h264")
    (folder / "notes.txt").write_text("not a video")
    predicted = [str(item.path) for item in make_source("videos", folder, 1).items("test")]
    assert [Path(p).name for p in predicted] == ["a.mp4", "c.h264", "b.MTS"]
    summaries = watch_main([str(folder), "--ckpt_path", str(student), "--output_dir", str(tmp_path / "out"),
                            "--timeline", "jsonl"])
    assert [s.source for s in summaries] == predicted
    assert [s.frames for s in summaries] == [20, 20, 20] and all(s.windows > 0 for s in summaries)
    assert len(rows(tmp_path / "out" / "c.timeline.jsonl")) == summaries[1].windows
    assert summaries[1].media_seconds == pytest.approx(20 / 25)


class Slow(ClipModel):
    """A real checkpoint's model that takes `delay` seconds longer per batch: slower than the stream."""

    def __init__(self, model: ClipModel, delay: float) -> None:
        self.model, self.spec, self.delay = model, model.spec, delay
        self.steps: list[float] = []  # seconds each batch took, as measured here (under this machine's load)

    def run(self, video: torch.Tensor) -> torch.Tensor:
        began = time.monotonic()
        time.sleep(self.delay)
        out = self.model.run(video)
        self.steps.append(time.monotonic() - began)
        return out


def stream_to_fifo(path: Path, seconds: float, fps: int, parts: int = 1) -> threading.Thread:
    """A camera in real time: an H.264 MPEG-TS stream written into the FIFO `path` as it is filmed,
    `parts` times (a stream that drops and comes back)."""
    os.mkfifo(path)

    def film() -> None:
        for _ in range(parts):
            try:
                # Python opens the FIFO (PyAV's own open would block holding the interpreter's lock).
                with open(path, "wb", buffering=0) as pipe, \
                        av.open(pipe, "w", format="mpegts", options={"flush_packets": "1"}) as container:
                    stream = container.add_stream("libx264", rate=fps)
                    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
                    stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
                    began = time.monotonic()
                    for k in range(round(seconds * fps)):
                        image = np.full((48, 64, 3), 20, np.uint8)
                        image[:, (3 * k) % 56:(3 * k) % 56 + 8] = 200
                        frame = av.VideoFrame.from_ndarray(image, "rgb24")
                        frame.pts, frame.time_base = k, Fraction(1, fps)
                        container.mux(stream.encode(frame))
                        time.sleep(max(0.0, began + (k + 1) / fps - time.monotonic()))
                    container.mux(stream.encode(None))
            except (OSError, av.FFmpegError):  # the reader went away (Ctrl-C)
                return

    thread = threading.Thread(target=film, daemon=True)
    thread.start()
    return thread


def test_a_live_stream_slower_model_drops_frames_and_keeps_up(tmp_path, student):
    fifo, seconds = tmp_path / "camera.fifo", 4.0
    camera = stream_to_fifo(fifo, seconds, fps=25)
    camera_done: list[float] = []  # when the camera wrote its last frame
    done_watcher = threading.Thread(target=lambda: (camera.join(), camera_done.append(time.monotonic())))
    done_watcher.start()
    model = Slow(load_clip_model(student), delay=0.8)
    summary = watch(fifo, model, WatchOptions(hop="1f", timeline=tmp_path / "live.csv", reconnect=0,
                                              status_every=1.0))
    finished = time.monotonic()
    done_watcher.join()
    assert summary.live and summary.dropped_frames > 0  # dropped at the decoder, counted
    assert summary.frames + summary.dropped_frames == 100  # every frame of the stream: kept or dropped
    assert summary.windows < 100 / 2  # hop 1f: a window per frame kept, most of them never made
    # Never behind, whatever the machine's load: measured against the model's own steps (each >= 0.8 s),
    # a result comes within three steps of its frame (the step under way, then the full queue of 11
    # frames is two batches of at most 8 windows), a fourth for the work around them; and the watch
    # ends as soon after the stream. A backlog would grow with the stream's length instead.
    step = max(model.steps)
    assert summary.latency["max"] <= 4 * step and finished - camera_done[0] <= 4 * step
    assert len(rows(tmp_path / "live.csv")) == summary.windows > 0


def test_a_dropped_live_stream_is_reopened_and_its_times_continue(tmp_path, student):
    """An HTTP server on 127.0.0.1 whose stream ends after one second: reopened once, times go on."""
    write_video(tmp_path / "cam.ts", list(range(15)), Fraction(1, 15), rate=15)
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
                              cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        port = re.search(r"port (\d+)", server.stdout.readline()).group(1)
        summary = watch(f"http://127.0.0.1:{port}/cam.ts", load_clip_model(student),
                        WatchOptions(timeline=tmp_path / "live.jsonl", reconnect=1, reconnect_delay=0.0))
    finally:
        server.terminate()
        server.wait()
    # Read faster than real time, the decoder drops what the windows could not take: all accounted for.
    assert summary.live and summary.reconnects == 1 and summary.frames + summary.dropped_frames == 30
    starts = [r["start"] for r in rows(tmp_path / "live.jsonl")]
    assert starts == sorted(starts) and 1.1 < summary.media_seconds <= 2.0 + 1e-6  # not restarted at 0


def test_ctrl_c_stops_a_live_watch_with_its_files_complete(tmp_path, student):
    fifo = tmp_path / "camera.fifo"
    camera = stream_to_fifo(fifo, 6.0, fps=15)
    threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    [summary] = watch_main([str(fifo), "--ckpt_path", str(student), "--output_dir", str(tmp_path / "out"),
                            "--name", "cam", "--video", "--reconnect", "0"])
    assert summary.interrupted and 0 < summary.frames < 90
    assert (tmp_path / "out/cam.timeline.csv").read_text().endswith("\n")
    assert len(rows(tmp_path / "out/cam.timeline.csv")) == summary.windows > 0
    rows(tmp_path / "out/cam.events.jsonl")  # parses
    times, _ = frame_times(tmp_path / "out/cam.annotated.mp4")  # a finished mp4, every frame in it
    assert len(times) == summary.frames
    camera.join(timeout=10)


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_stays_flat_over_an_hour_of_video(tmp_path, student):
    fps, hour = 25, 3600
    pattern = [av.VideoFrame.from_ndarray(np.full((32, 32, 3), v, np.uint8), "rgb24")
               for v in range(0, 250, 10)]
    with av.open(str(tmp_path / "hour.mp4"), "w") as container:  # cheap to encode: few distinct frames
        stream = container.add_stream("libx264", rate=fps)
        stream.width = stream.height = 32
        stream.pix_fmt, stream.options = "yuv420p", {"preset": "ultrafast", "crf": "30"}
        for k in range(fps * hour):
            frame = pattern[(k // fps) % len(pattern)]
            frame.pts, frame.time_base = k, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    memory: list[tuple[float, int]] = []
    summary = watch(tmp_path / "hour.mp4", load_clip_model(student),
                    WatchOptions(hop="30s", batch_size=1, timeline=tmp_path / "hour.csv",
                                 events=tmp_path / "hour.jsonl"),
                    on_progress=lambda t: memory.append((t, resident_bytes())))
    assert summary.frames == fps * hour and summary.media_seconds == pytest.approx(hour)
    assert len(rows(tmp_path / "hour.csv")) == summary.windows == 120
    early = max(m for t, m in memory if t < hour / 6)
    late = max(m for t, m in memory if t > hour / 2)
    assert late - early < 16 * 2**20, f"resident memory grew by {(late - early) / 2**20:.1f} MiB"


def test_the_benchmark_runs_end_to_end_at_its_smallest(tmp_path, student):
    from benchmarks import watch as benchmark

    results = benchmark.main(["--ckpt_path", str(student), "--duration", "4", "--rounds", "1", "--hops", "5f",
                              "--video", str(tmp_path / "night.mp4"), "--out", str(tmp_path / "watch.json")])
    figures = json.loads((tmp_path / "watch.json").read_text())["hops"]["5f"]
    assert figures["windows"] == results["hops"]["5f"]["windows"] > 0
    assert 0 <= figures["frame_accuracy"] <= 1 and 0 <= figures["event_f1"] <= 1 and figures["x_realtime"] > 0
