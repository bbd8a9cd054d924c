"""The video manifest: each file probed once, reused while its size and mtime stand, re-probed after."""

from __future__ import annotations

import os
from pathlib import Path

from dlkdd.data import DarkVideoDataModule
from dlkdd.data.manifest import MANIFEST_NAME, Manifest, default_manifest_path
from tests.data.test_validation import counting_frames, write_video


def _videos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_video(folder / f"v{k}.mp4", counting_frames(6 + k)) for k in range(count)]


def test_records_are_reused_until_size_or_mtime_change(tmp_path):
    paths = _videos(tmp_path / "videos", 3)
    file = tmp_path / "cache" / "manifest.json"
    first = Manifest(file).lookup(paths, workers=2, progress=False)
    assert [r.info.num_frames for r in first.values()] == [6, 7, 8] and file.is_file()

    # Same size and mtime, different content: a reloaded manifest trusts its record (no re-probe).
    stat = paths[0].stat()
    paths[0].write_bytes(b"x" * stat.st_size)
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert Manifest(file).lookup(paths, progress=False)[paths[0]].info.num_frames == 6

    # A new mtime: probed again, and now found broken.
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    again = Manifest(file).lookup(paths, progress=False)[paths[0]]
    assert again.info is None and "cannot read video" in again.error


def test_default_location_beside_the_data_or_in_the_user_cache(tmp_path, monkeypatch):
    assert default_manifest_path(tmp_path) == tmp_path / MANIFEST_NAME
    read_only = tmp_path / "ro"
    read_only.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != read_only)  # root ignores chmod
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    in_cache = default_manifest_path(read_only)
    assert in_cache.parent == tmp_path / "cache" / "dlkdd" / "manifests" and in_cache.name.startswith("ro-")


def test_second_setup_reads_the_manifest(tmp_path):
    for name in ["sit", "stand"]:
        _videos(tmp_path / "data" / name, 3)
    manifest = tmp_path / "manifest.json"
    first = DarkVideoDataModule(dataset="folder", root=str(tmp_path / "data"), manifest=str(manifest),
                                num_workers=0)
    first.setup("fit")
    assert (len(first.checked["train"].items), len(first.checked["val"].items)) == (4, 2)
    # Every video unreadable now, but unchanged in size and mtime: the second run probes none of them.
    for path in (tmp_path / "data").rglob("*.mp4"):
        stat = path.stat()
        path.write_bytes(b"\0" * stat.st_size)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = DarkVideoDataModule(dataset="folder", root=str(tmp_path / "data"), manifest=str(manifest),
                                 num_workers=0)
    second.setup("fit")
    assert second.checked["train"].num_frames == first.checked["train"].num_frames
    assert not second.failed_videos
