"""Several live sources in one process, one model (dlkdd.watch.multiplex): real MPEG-TS streams served
over HTTP from 127.0.0.1, at real time, at half speed, and one that ends and is reopened. Each stream's
timeline is the one a single-source run of the same stream gives; a dead source ends only itself; each
stream has its own drops, latency, files and alerts."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dlkdd.inference import load_clip_model
from dlkdd.synthetic.dataset import CLASS_NAMES
from dlkdd.watch import WatchOptions, watch
from dlkdd.watch.command import main as watch_main
from dlkdd.watch.multiplex import Camera, watch_many
from tests.conftest import one_step_checkpoint
from tests.watch.test_streams import free_tcp_port, ts_segment
from tests.watch.test_watch import Slow, rows, write_video


@pytest.fixture(scope="module")
def student(tiny_root, tmp_path_factory) -> Path:
    """A real student checkpoint (one training step): clip_len 4, stride 3."""
    return one_step_checkpoint("synthetic/baseline.yaml", tiny_root, tmp_path_factory.mktemp("cameras-ckpt"))


@contextmanager
def cameras(streams: dict[str, tuple[bytes, float]]):
    """An HTTP server on 127.0.0.1: GET /NAME sends that stream's bytes evenly over its seconds (0: at
    once), then ends the response (a client reading on sees the stream end); other paths are 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.lstrip("/") not in streams:
                self.send_error(404)
                return
            data, seconds = streams[self.path.lstrip("/")]
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            began, step = time.monotonic(), 188 * 7  # seven MPEG-TS packets at a time
            try:
                for k in range(0, len(data), step):
                    time.sleep(max(0.0, began + seconds * k / len(data) - time.monotonic()))
                    self.wfile.write(data[k:k + step])
            except OSError:  # the client went away
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# steady: 2 s at 15 fps sent in real time; slow: the same sent over 4 s (half speed); flaky: 6 s at 2 fps
# sent at once, then the stream ends and is reopened once (its timeline goes on: 12 s). At 2 fps the
# reopening takes less than a frame period, so the clock's step across it is one frame period in every
# run, and the windows after it are the same in every run too.
STREAMS = {"steady": (ts_segment(2.0), 2.0), "slow": (ts_segment(2.0), 4.0),
           "flaky": (ts_segment(6.0, fps=2, gop=2), 0.0)}


def options(folder: Path, name: str) -> WatchOptions:
    return WatchOptions(timeline=folder / f"{name}.csv", events=folder / f"{name}.jsonl", queue_frames=64,
                        reconnect=1 if name == "flaky" else 0, reconnect_delay=0.0, status_every=0.5)


def windows(path: Path) -> list[tuple]:
    return [(r["start"], r["end"], r["top1"], round(float(r["prob1"]), 3)) for r in rows(path)]


def test_three_live_streams_give_the_timelines_of_single_source_runs(tmp_path, student):
    model = load_clip_model(student)
    lines: list[str] = []
    with cameras(STREAMS) as url:
        summaries = watch_many([Camera(f"{url}/{name}", name, options(tmp_path / "many", name))
                                for name in STREAMS], model, batch_size=8, batch_wait=0.05, log=lines.append)
        alone = {name: watch(f"{url}/{name}", model, options(tmp_path / "alone", name), log=lambda _: None)
                 for name in STREAMS}
    by_name = {s.name: s for s in summaries}
    assert list(by_name) == list(STREAMS)
    for name, summary in by_name.items():
        assert summary.live and summary.dropped_frames == 0 and summary.ended, summary.line()
        assert summary.windows == alone[name].windows > 0 and summary.frames == alone[name].frames
        assert windows(tmp_path / "many" / f"{name}.csv") == windows(tmp_path / "alone" / f"{name}.csv")
        assert summary.latency["p95"] >= summary.latency["median"] > 0
    assert by_name["flaky"].reconnects == 1 and by_name["flaky"].frames == 24
    assert by_name["flaky"].media_seconds == pytest.approx(12.0)
    assert by_name["steady"].frames == by_name["slow"].frames == 30
    # The half-speed stream (sent over 4 s) did not hold the steady one's results back.
    assert by_name["steady"].latency["p95"] < 1.5  # (sent over 2 s; held back, it would wait ~2 s)
    named = [line for line in lines if line.startswith("[watch] steady: ")]
    assert named and "frames dropped" in named[0]


def test_a_dead_source_ends_only_itself_and_each_stream_has_its_own_drops(tmp_path, student):
    model = Slow(load_clip_model(student), delay=0.3)  # slower than a stream sent at once
    # burst: 10 s sent at once, decoded far faster than the slow model takes windows
    streams = {"steady": (ts_segment(2.0), 2.0), "burst": (ts_segment(10.0), 0.0)}
    with cameras(streams) as url:
        sources = {"steady": f"{url}/steady", "burst": f"{url}/burst", "missing": f"{url}/missing",
                   "refused": f"http://127.0.0.1:{free_tcp_port()}/cam.ts"}
        summaries = {s.name: s for s in watch_many(
            [Camera(source, name, WatchOptions(timeline=tmp_path / f"{name}.csv", reconnect=0, timeout=3,
                                               queue_frames=64 if name == "steady" else 0))
             for name, source in sources.items()], model, batch_wait=0.05, log=lambda _: None)}
    assert summaries["missing"].ended.startswith(f"SOURCE {sources['missing']}: Server returned 404")
    assert "Connection refused" in summaries["refused"].ended
    assert summaries["missing"].frames == summaries["refused"].frames == 0
    steady, burst = summaries["steady"], summaries["burst"]
    assert steady.frames == 30 and steady.dropped_frames == 0 and steady.windows > 0
    assert burst.dropped_frames > 0 and burst.frames + burst.dropped_frames == 150  # its own decoder's drops
    assert len(rows(tmp_path / "steady.csv")) == steady.windows and steady.latency and burst.latency
    assert "frames dropped" in burst.line() and burst.line().startswith(f"burst ({sources['burst']})")


def test_the_command_with_a_sources_file(tmp_path, student, capsys):
    """Files named by the streams, a per-stream alert setting, one line per stream, a dead one said."""
    with cameras({"gate": (ts_segment(2.0), 2.0), "yard": (ts_segment(2.0), 2.0)}) as url:
        (tmp_path / "cameras.yaml").write_text(
            f"- {{name: gate, url: '{url}/gate', alert: [{CLASS_NAMES[0]}], alert_threshold: 0.0, "
            "alert_min_duration: 0}\n"
            f"- {{name: yard, url: '{url}/yard'}}\n")
        summaries = watch_main([f"{url}/nowhere", "--sources", str(tmp_path / "cameras.yaml"), "--ckpt_path",
                                str(student), "--output_dir", str(tmp_path / "out"), "--reconnect", "0",
                                "--status_every", "0"])
    gate, yard, dead = summaries
    assert (gate.name, yard.name) == ("gate", "yard") and dead.name.endswith("_nowhere")
    for summary in (gate, yard):
        assert len(rows(tmp_path / "out" / f"{summary.name}.timeline.csv")) == summary.windows > 0
    said = capsys.readouterr()
    alerts = [json.loads(line) for line in said.out.splitlines()]
    assert alerts and {a["stream"] for a in alerts} == {"gate"}  # the yard's alert settings are the default
    assert f"gate ({url}/gate): 30 frames" in said.err and "Server returned 404" in dead.ended
    assert f"{dead.name} ({url}/nowhere): 0 frames" in said.err


def test_a_bad_sources_file_is_one_named_line(tmp_path, student):
    (tmp_path / "cameras.yaml").write_text("- {name: gate, url: 'http://127.0.0.1:1/a', treshold: 1}\n")
    with pytest.raises(ValueError, match=r"^--sources .*cameras.yaml: entry 1 \(http://127.0.0.1:1/a\) has "
                                         "treshold: the keys a source takes are name, url, alert"):
        watch_main(["--sources", str(tmp_path / "cameras.yaml"), "--ckpt_path", str(student)])


def test_several_files_go_one_after_another_as_a_folders_do(tmp_path, student, capsys):
    for name, frames in (("a", 20), ("b", 30)):
        write_video(tmp_path / f"{name}.mp4", list(range(frames)), Fraction(1, 15), rate=15)
    command = [str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--ckpt_path", str(student), "--output_dir",
               str(tmp_path / "out"), "--hop", "2f"]
    summaries = watch_main(command)
    assert [s.frames for s in summaries] == [20, 30] and not any(s.live for s in summaries)
    for name, summary in zip("ab", summaries, strict=True):
        assert len(rows(tmp_path / "out" / f"{name}.timeline.csv")) == summary.windows > 0
    assert watch_main(command) == []  # complete: a rerun skips both
    assert "2 already complete and skipped" in capsys.readouterr().err
