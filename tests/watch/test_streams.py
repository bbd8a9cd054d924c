"""`dlkdd watch` on streams as cameras and encoders really send them, made with PyAV and served from
127.0.0.1: MPEG-TS segments whose clocks restart (a file, and live over HTTP), the 33-bit clock's wrap,
a change of resolution and pixel format, UDP joined mid-stream with lost datagrams, and sources that
cannot be opened (one named line each)."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dlkdd.inference import load_clip_model
from dlkdd.watch import WatchOptions, watch
from dlkdd.watch.clock import WRAP_TICKS, MediaClock
from dlkdd.watch.command import main as watch_main
from tests.conftest import one_step_checkpoint
from tests.watch.test_watch import frame_times, rows

TICK = Fraction(1, 90000)


@pytest.fixture(scope="module")
def student(tiny_root, tmp_path_factory) -> Path:
    """A real student checkpoint (one training step): clip_len 4, stride 3."""
    return one_step_checkpoint("synthetic/baseline.yaml", tiny_root, tmp_path_factory.mktemp("streams-ckpt"))


def ts_segment(seconds: float, fps: int = 15, size=(24, 32), start: float = 0.0, gop: int = 15,
               pix_fmt: str = "yuv420p") -> bytes:
    """An H.264 MPEG-TS stream as an encoder sends it: its own clock starting at `start` seconds (mod
    the 33-bit wrap, as the muxer writes it), a keyframe every `gop` frames: a dark scene with a sensor's
    grain (new in every frame, so every frame takes datagrams a loss can hit) and a bar moving across."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], pix_fmt
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(gop)}
        first = round(start * fps)
        for k in range(round(seconds * fps)):
            image = np.repeat(rng.integers(10, 50, (*size, 1), dtype=np.uint8), 3, axis=2)
            x = (3 * k) % (size[1] - 6)
            image[:, x:x + 6] = 220
            frame = av.VideoFrame.from_ndarray(image, "rgb24")
            frame.pts, frame.time_base = first + k, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@contextmanager
def http_server(folder: Path):
    """`python -m http.server` on 127.0.0.1 serving `folder`; yields its base URL."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"],
                              cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = re.search(r"port (\d+)", server.stdout.readline()).group(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def covered(intervals: list[tuple[float, float]]) -> float:
    """Seconds covered by the union of the intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def check_two_segments(timeline: list[dict], records: list[dict], summary) -> None:
    """Two 2 s segments at 15 fps whose clocks both start at 0: one 4 s timeline, one discontinuity at
    2 s (one frame period after the last frame of the first), no window across it."""
    assert summary.frames + summary.dropped_frames == 60 and summary.discontinuities == 1
    assert summary.media_seconds == pytest.approx(4.0)
    [marker] = [r for r in records if r["type"] == "discontinuity"]
    assert marker["kind"] == "backward" and marker["time"] == pytest.approx(2.0)
    assert marker["jump"] == pytest.approx(-29 / 15, abs=1e-3)  # the second clock restarted at 0
    spans = [(float(r["start"]), float(r["end"])) for r in timeline]
    assert all(end <= 2.0 + 1e-3 or start >= 2.0 - 1e-3 for start, end in spans)  # none spans the jump
    assert min(s for s, _ in spans) == 0.0 and max(e for _, e in spans) == pytest.approx(4.0, abs=1e-3)
    assert covered(spans) == pytest.approx(4.0, abs=0.01)  # windows over both halves, no hole


def test_two_segments_whose_clocks_both_start_at_0_make_one_timeline(tmp_path, student):
    (tmp_path / "nvr.ts").write_bytes(ts_segment(2.0) + ts_segment(2.0))
    [summary] = watch_main([str(tmp_path / "nvr.ts"), "--ckpt_path", str(student), "--output_dir",
                            str(tmp_path / "out"), "--hop", "5f", "--video"])
    check_two_segments(rows(tmp_path / "out/nvr.timeline.csv"), rows(tmp_path / "out/nvr.events.jsonl"),
                       summary)
    assert "1 discontinuities" in summary.line()
    times, rate = frame_times(tmp_path / "out/nvr.annotated.mp4")  # playable, every frame, 4 s long
    assert len(times) == 60 and rate == 15 and np.all(np.diff(times) > 0)
    assert times[-1] - times[0] + 1 / 15 == pytest.approx(4.0, abs=1e-3)


def test_smoothing_starts_afresh_after_a_discontinuity(tmp_path, student):
    """Two identical segments: with --smooth 3 the second's windows are the first's, window for window
    (smoothed from a fresh start, not with the first segment's last windows)."""
    (tmp_path / "twice.ts").write_bytes(ts_segment(2.0) + ts_segment(2.0))
    timelines = {}
    for smooth in ("1", "3"):
        watch_main([str(tmp_path / "twice.ts"), "--ckpt_path", str(student), "--output_dir",
                    str(tmp_path / smooth), "--hop", "5f", "--smooth", smooth, "--timeline", "jsonl"])
        timelines[smooth] = [(r["start"], dict(zip(r["classes"], r["probs"], strict=True)))
                             for r in rows(tmp_path / smooth / "twice.timeline.jsonl")]
    first = [p for t, p in timelines["3"] if t < 2.0]
    second = [p for t, p in timelines["3"] if t >= 2.0]
    assert len(first) == len(second) == 5 and first == second
    assert [p for _, p in timelines["1"]] != [p for _, p in timelines["3"]]  # smoothing did something


def test_the_same_segments_served_live_over_http(tmp_path, student):
    (tmp_path / "nvr.ts").write_bytes(ts_segment(2.0) + ts_segment(2.0))
    with http_server(tmp_path) as url:
        summary = watch(f"{url}/nvr.ts", load_clip_model(student),
                        WatchOptions(hop="5f", timeline=tmp_path / "live.csv", events=tmp_path / "live.jsonl",
                                     video=tmp_path / "live.mp4", reconnect=0, queue_frames=64))
    assert summary.live and summary.dropped_frames == 0  # a queue of 64 frames: this test keeps them all
    check_two_segments(rows(tmp_path / "live.csv"), rows(tmp_path / "live.jsonl"), summary)
    times, _ = frame_times(tmp_path / "live.mp4")
    assert len(times) == 60 and np.all(np.diff(times) > 0)


def test_a_stream_crossing_the_33_bit_wrap_is_unwrapped(tmp_path, student):
    """A clock 1 s before 2**33 ticks: FFmpeg's demuxer unwraps it; the timeline runs straight through."""
    start = float(WRAP_TICKS * TICK) - 1.0
    (tmp_path / "wrap.ts").write_bytes(ts_segment(3.0, start=start))
    with av.open(str(tmp_path / "wrap.ts")) as container:  # the case being tested: the stored clock wraps
        raw = [p.pts for p in container.demux() if p.pts is not None]
    assert max(raw) - min(raw) < 4 * 90000  # (FFmpeg's demuxer has unwrapped it: no jump of 2**33 left)
    [summary] = watch_main([str(tmp_path / "wrap.ts"), "--ckpt_path", str(student), "--output_dir",
                            str(tmp_path / "out"), "--hop", "5f", "--video"])
    assert summary.frames == 45 and summary.discontinuities == 0
    assert summary.media_seconds == pytest.approx(3.0)
    starts = [float(r["start"]) for r in rows(tmp_path / "out/wrap.timeline.csv")]
    assert starts == pytest.approx([k / 3 for k in range(len(starts))], abs=1e-3) and len(starts) == 8
    assert len(frame_times(tmp_path / "out/wrap.annotated.mp4")[0]) == 45


def test_a_clock_restart_below_the_demuxers_wrap_reference(tmp_path, student):
    """FFmpeg unwraps the 33-bit clock within one period around the stream's first timestamp (60 s before
    it): a camera whose clock restarts below that shows a jump of +2**33 ticks, and when its clock passes
    the reference again a jump of -2**33. The first is the jump back it really was, the second a wrap
    that loses no time."""
    (tmp_path / "cam.ts").write_bytes(ts_segment(2.0, fps=5, start=100.0) + ts_segment(16.0, fps=5, start=30))
    with av.open(str(tmp_path / "cam.ts")) as container:
        raw = [f.pts for f in container.decode(video=0)]
    steps = np.diff(raw)
    assert steps.max() > WRAP_TICKS // 2 and steps.min() < -WRAP_TICKS // 2  # the demuxer's two jumps
    [summary] = watch_main([str(tmp_path / "cam.ts"), "--ckpt_path", str(student), "--output_dir",
                            str(tmp_path / "out"), "--hop", "1s", "--video"])
    markers = [r for r in rows(tmp_path / "out/cam.events.jsonl") if r["type"] == "discontinuity"]
    assert [m["kind"] for m in markers] == ["backward", "wrap"] and summary.discontinuities == 2
    assert markers[0]["time"] == pytest.approx(2.0) and markers[0]["jump"] == pytest.approx(-71.8, abs=0.01)
    assert summary.frames == 90 and summary.media_seconds == pytest.approx(18.0)  # no time lost at the wrap
    spans = [(float(r["start"]), float(r["end"])) for r in rows(tmp_path / "out/cam.timeline.csv")]
    assert covered(spans) == pytest.approx(18.0, abs=0.01)
    assert any(s < markers[1]["time"] < e for s, e in spans)  # windows run across a wrap


def test_the_annotated_video_follows_a_resolution_and_pixel_format_change(tmp_path, student):
    (tmp_path / "switch.ts").write_bytes(ts_segment(1.0, size=(24, 32)) + ts_segment(
        1.0, size=(48, 40), pix_fmt="yuv444p", start=60.0))  # 59 s forward: a fault in MPEG-TS
    [summary] = watch_main([str(tmp_path / "switch.ts"), "--ckpt_path", str(student), "--output_dir",
                            str(tmp_path / "out"), "--hop", "5f", "--video"])
    assert summary.frames == 30 and summary.discontinuities == 1
    assert summary.media_seconds == pytest.approx(2.0)
    with av.open(str(tmp_path / "out/switch.annotated.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 30 and {(f.width, f.height) for f in frames} == {(320, 240)}  # the first's, scaled


class UdpCamera(threading.Thread):
    """An MPEG-TS stream sent as 1316-byte datagrams (7 TS packets, as encoders send them) to
    `host`:`port` in real time, once the port is bound, from `join` of the way in, every 50th
    datagram lost (2 %). A multicast group is sent to through the loopback interface with a TTL of 0:
    nothing leaves the machine."""

    def __init__(self, data: bytes, seconds: float, port: int, join: float = 0.3,
                 host: str = "127.0.0.1") -> None:
        super().__init__(daemon=True)
        self.host = host
        self.chunks = [data[i:i + 1316] for i in range(0, len(data), 1316)]
        self.first = int(join * len(self.chunks))
        self.seconds, self.port = seconds * (1 - self.first / len(self.chunks)), port
        self.sent_seconds = 0.0

    def run(self) -> None:
        deadline = time.monotonic() + 30
        while not bound(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        chunks = self.chunks[self.first:]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            if socket.inet_aton(self.host)[0] >= 224:
                sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
                sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0)
            began = time.monotonic()
            for k, chunk in enumerate(chunks):
                if k % 50 != 25:
                    sender.sendto(chunk, (self.host, self.port))
                time.sleep(max(0.0, began + (k + 1) * self.seconds / len(chunks) - time.monotonic()))
        self.sent_seconds = self.seconds


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bound(port: int) -> bool:
    """Someone listens on UDP `port` (Linux: /proc/net/udp lists local address:port in hex)."""
    return any(f":{port:04X} " in line for line in Path("/proc/net/udp").read_text().splitlines()[1:])


def test_udp_joined_mid_stream_with_lost_datagrams(tmp_path, student):
    seconds = 6.0  # a keyframe every 8 frames (0.53 s); an encoder's clock: not 0 at the join
    data = ts_segment(seconds, size=(96, 128), gop=8, start=1234.5)
    port = free_udp_port()
    camera = UdpCamera(data, seconds, port)
    camera.start()
    summary = watch(f"udp://127.0.0.1:{port}", load_clip_model(student),
                    WatchOptions(hop="5f", timeline=tmp_path / "udp.csv", events=tmp_path / "udp.jsonl",
                                 reconnect=0, timeout=1.5, status_every=0.5),
                    log=(logged := []).append)
    camera.join()
    assert summary.live and summary.frames > 0
    spans = [(float(r["start"]), float(r["end"])) for r in rows(tmp_path / "udp.csv")]
    assert min(s for s, _ in spans) == 0.0  # the first decodable keyframe is time 0
    assert covered(spans) >= 0.8 * camera.sent_seconds, (covered(spans), camera.sent_seconds, summary.line())
    assert summary.damaged_packets > 0  # the lost datagrams, seen as MPEG-TS continuity errors
    assert all(float(re.search(r"\] (-?[\d.]+) s of stream", line).group(1)) >= 0 for line in logged)
    assert "the stream was lost (no data for 1.5 s)" in summary.line()


def joins_multicast_on_loopback(group: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
            return True
        except OSError:
            return False


def test_multicast_joined_on_the_loopback_interface(tmp_path, student):
    group = "239.255.42.42"
    if not joins_multicast_on_loopback(group):
        pytest.skip("this machine cannot join a multicast group on its loopback interface")
    data = ts_segment(3.0, size=(96, 128), gop=8)
    port = free_udp_port()
    camera = UdpCamera(data, 3.0, port, join=0.0, host=group)
    camera.start()
    summary = watch(f"udp://@{group}:{port}?localaddr=127.0.0.1", load_clip_model(student),
                    WatchOptions(hop="5f", timeline=tmp_path / "group.csv", reconnect=0, timeout=1.5))
    camera.join()
    spans = [(float(r["start"]), float(r["end"])) for r in rows(tmp_path / "group.csv")]
    assert covered(spans) >= 0.8 * camera.sent_seconds, (covered(spans), summary.line())


@pytest.mark.parametrize("case", ["404", "refused", "not video", "protocol"])
def test_a_source_that_cannot_be_opened_is_one_named_line(tmp_path, student, case):
    (tmp_path / "page.html").write_text("<html><body>camera login</body></html>\n" * 50)
    with http_server(tmp_path) as url:
        source = {"404": f"{url}/missing.ts", "refused": f"http://127.0.0.1:{free_tcp_port()}/cam.ts",
                  "not video": f"{url}/page.html", "protocol": "srt://127.0.0.1:9000"}[case]
        with pytest.raises(FileNotFoundError) as err:
            watch_main([source, "--ckpt_path", str(student), "--output_dir", str(tmp_path / "out"),
                        "--timeout", "3", "--reconnect", "0"])
    message = str(err.value)
    said = {"404": "Server returned 404 Not Found. Check the URL's path",
            "refused": "Connection refused. Check the host and port",
            "not video": "Invalid data found when processing input. Check that it is the video stream",
            "protocol": "Protocol not found. Check this FFmpeg"}[case]
    assert message.startswith(f"SOURCE {source}: {said}") and "Errno" not in message and "\n" not in message


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_command_line_says_it_in_one_line(tmp_path, student):
    with http_server(tmp_path) as url:
        done = subprocess.run([sys.executable, "-m", "dlkdd", "watch", f"{url}/missing.ts", "--ckpt_path",
                               str(student), "--output_dir", str(tmp_path / "out"), "--reconnect", "0"],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"dlkdd: error: SOURCE {url}/missing.ts: Server returned 404 Not Found.")


def test_the_clock_on_given_timestamps():
    """MediaClock alone, on 90 kHz timestamps at 25 fps: a second wrap the demuxer left, a forward jump
    (a fault in MPEG-TS, a held frame in MP4) and a live restart that took 5 s of real time."""
    period = 3600  # ticks per frame

    def run(pts: list[int], forward_jumps=True, live=False, arrivals=None):
        clock = MediaClock()
        clock.open(TICK, 1 / 25, forward_jumps=forward_jumps, live=live)
        out = [clock(p, arrivals[k] if arrivals else 0.0) for k, p in enumerate(pts)]
        return [t for t, _ in out], [(j.kind, round(j.jump, 3)) for _, j in out if j is not None]

    near = WRAP_TICKS - 2 * period
    times, jumps = run([near, near + period, 0, period])  # 0: the clock wrapped, the demuxer left it
    assert times == pytest.approx([0, 0.04, 0.08, 0.12]) and jumps == [("wrap", -95443.678)]
    times, jumps = run([0, period, period + 90000 * 60])  # 60 s forward in MPEG-TS: a fault
    assert times == pytest.approx([0, 0.04, 0.08]) and jumps == [("forward", 60.0)]
    times, jumps = run([0, period, period + 90000 * 60], forward_jumps=False)  # in an MP4: a held frame
    assert times == pytest.approx([0, 0.04, 60.04]) and jumps == []
    times, jumps = run([0, period, 0], live=True, arrivals=[0.0, 0.04, 5.04])  # a live camera's reboot
    assert times == pytest.approx([0, 0.04, 5.04]) and jumps == [("backward", -0.04)]
    # An MP4's clock (no 33-bit wrap) that goes back: a restart, not a crash.
    clock = MediaClock()
    clock.open(Fraction(1, 30), 1 / 30, forward_jumps=False, live=False)
    out = [clock(p, 0.0) for p in (0, 1, 2, 0, 1)]
    assert [t for t, _ in out] == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30, 4 / 30])
    assert [j.kind for _, j in out if j is not None] == ["backward"]


def test_the_soak_benchmark_runs_at_its_smallest(tmp_path, student):
    from benchmarks import watch_soak

    figures = watch_soak.main(["--ckpt_path", str(student), "--minutes", "0.25", "--speed", "5",
                               "--out", str(tmp_path / "soak.json")])
    assert [m["kind"] for m in figures["markers"]] == ["backward", "backward", "wrap"]
    assert figures["frames"] + figures["dropped_frames"] == 15 * 25 and figures["discontinuities"] == 3
    assert figures["samples"]["rows"] and figures["rss_mib"]["last"] > 0
    assert json.loads((tmp_path / "soak.json").read_text())["provenance"]["commit"]
