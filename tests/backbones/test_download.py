"""Published weights download into the torch hub cache, checked against the checksum in their name,
from a real HTTP server on 127.0.0.1 (DLKDD_WEIGHTS_URL); a failed download leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from dlkdd.backbones import IG65M, create_backbone, get_backbone_spec, kinetics_weights_file
from dlkdd.backbones.published import MIRROR_VARIABLE, published_weights, register_published_weights
from dlkdd.cli import main
from dlkdd.enhance import create_enhancer
from tests.backbones.test_backbones import _trained_tiny
from tests.conftest import CONFIGS, shared_file

IG65M_RELEASE = "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0/"


class WeightsServer:
    """Serves `files` (name -> bytes); a name in `truncate` announces its full length but sends half."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if name in server.truncate else body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch) -> Iterator[WeightsServer]:
    served = WeightsServer()
    monkeypatch.setenv(MIRROR_VARIABLE, served.url)
    yield served
    served.close()


@pytest.fixture
def hub_dir(tmp_path: Path) -> Iterator[Path]:
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


def _weights_file(state: dict) -> tuple[bytes, str]:
    """A torch.save'd state_dict and the first 8 hex digits of its SHA-256 (torch hub's name suffix)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()[:8]


def _tiny_standin(server: WeightsServer, name: str) -> tuple[dict, str]:
    """tiny3d weights in torchvision's layout (net + a 400-class fc), published under `name`."""
    source = _trained_tiny()
    state = source.net.state_dict() | {"fc.weight": torch.randn(400, 128), "fc.bias": torch.zeros(400)}
    data, digest = _weights_file(state)
    file_name = f"{name}-{digest}.pth"
    server.files[file_name] = data
    register_published_weights(name, "tiny3d", f"https://example.invalid/releases/{file_name}")
    return state, file_name


def test_the_ig65m_names_are_the_ig65m_pytorch_release_files():
    assert {name: published_weights(name, "r2plus1d_34", None).url for name in IG65M} == {
        "ig65m_8": IG65M_RELEASE + "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth",
        "ig65m_32": IG65M_RELEASE + "r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth",
        "ig65m_kinetics_8": IG65M_RELEASE + "r2plus1d_34_clip8_ft_kinetics_from_ig65m-0aa0550b.pth",
        "ig65m_kinetics_32": IG65M_RELEASE + "r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth",
    }
    with pytest.raises(ValueError, match=r"ig65m_32.*backbone 'r2plus1d_34'.*--model.init_args.backbone"):
        create_backbone("r3d_18", 5, pretrained="ig65m_32")  # refused before any download


def test_a_download_lands_in_the_hub_cache_and_loads(server, hub_dir):
    state, file_name = _tiny_standin(server, "tiny_standin_ok")

    backbone = create_backbone("tiny3d", 5, pretrained="tiny_standin_ok")

    assert (hub_dir / file_name).is_file() and server.requests == [file_name]
    assert torch.equal(backbone.net.features[0][0].weight, state["features.0.0.weight"])
    create_backbone("tiny3d", 5, pretrained="tiny_standin_ok")
    assert server.requests == [file_name]  # the second time from the cache


def test_a_truncated_download_is_an_error_and_leaves_nothing(server, hub_dir):
    _, file_name = _tiny_standin(server, "tiny_standin_cut")
    server.truncate.add(file_name)
    # torch hub's downloader does not compare lengths: the checksum in the name is what catches it.
    with pytest.raises(ValueError, match=r"'tiny_standin_cut' downloaded from .* checksum.*cut short"):
        create_backbone("tiny3d", 5, pretrained="tiny_standin_cut")
    assert not hub_dir.exists() or list(hub_dir.iterdir()) == []


def test_an_ig65m_file_with_another_checksum_is_refused_and_leaves_nothing(server, hub_dir):
    name = IG65M["ig65m_32"]
    server.files[name] = _weights_file({"fc.weight": torch.zeros(2, 2)})[0]  # not the published bytes
    with pytest.raises(ValueError, match=r"'ig65m_32' downloaded from .* not match their checksum.*449a7af9"):
        create_backbone("r2plus1d_34", 11, pretrained="ig65m_32")
    assert server.requests == [name] and list(hub_dir.iterdir()) == []


def test_offline_the_error_names_the_file_the_folder_and_the_url(hub_dir, monkeypatch):
    monkeypatch.setenv(MIRROR_VARIABLE, "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(FileNotFoundError) as error:
        create_backbone("r3d_18", 5, pretrained="kinetics400")
    message = str(error.value)
    assert "'r3d_18-b3b3357e.pth'" in message and f"'{hub_dir}'" in message
    assert "http://127.0.0.1:9/r3d_18-b3b3357e.pth" in message and MIRROR_VARIABLE in message
    assert "from scratch with --model.init_args.pretrained null" in message  # the way on without it
    path, url = kinetics_weights_file(get_backbone_spec("r3d_18").kinetics_weights)
    assert url == "https://download.pytorch.org/models/r3d_18-b3b3357e.pth" and path == hub_dir / path.name


def test_reading_an_ig65m_config_needs_no_network(hub_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(MIRROR_VARIABLE, "http://127.0.0.1:9")  # any download attempt would fail
    cli = main(["--config", str(CONFIGS / "arid/teacher.yaml"), "--trainer.accelerator=cpu"], run=False)
    assert cli.model.hparams.pretrained == "ig65m_32" and not hub_dir.exists()


def _arid_layout(root: Path, videos: list[Path]) -> None:
    """ARID v1.0's layout: class folders and ARID_split1_{train,test}.txt (idx, label, path), 4 classes."""
    lines = {"train": [], "test": []}
    for label, name in enumerate(["Drink", "Jump", "Pick", "Pour"]):
        (root / name).mkdir(parents=True)
        for j in range(3):
            target = root / name / f"{name}_1_{j}.mp4"
            target.write_bytes(videos[(3 * label + j) % len(videos)].read_bytes())
            split = "test" if j == 2 else "train"
            lines[split].append(f"{len(lines[split])}\t{label}\t{name}/{target.name}")
    for split, rows in lines.items():
        (root / f"ARID_split1_{split}.txt").write_text("\n".join(rows) + "\n")


@pytest.mark.slow
def test_the_arid_teacher_config_downloads_its_weights_verifies_them_and_trains(
        server, hub_dir, tiny_root, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="dlkdd.backbones.weights")
    state, file_name = _tiny_standin(server, "tiny_standin_arid")
    _arid_layout(tmp_path / "ARID", sorted(tiny_root.rglob("*.mp4")))
    fit = main(["fit", "--config", str(CONFIGS / "arid/teacher.yaml"), f"--data.root={tmp_path / 'ARID'}",
                "--model.init_args.backbone=tiny3d", "--model.init_args.pretrained=tiny_standin_arid",
                "--data.clip_len=4", "--data.frame_size=[32, 43]", "--data.crop_size=28",
                "--data.batch_size=4", "--data.num_workers=0", "--data.num_clips=1", "--data.num_crops=1",
                "--trainer.precision=32",
                "--trainer.accelerator=cpu", "--trainer.max_epochs=1", "--trainer.logger=false",
                "--trainer.enable_progress_bar=false"])
    assert server.requests == [file_name] and (hub_dir / file_name).is_file()
    loads = [r.getMessage() for r in caplog.records if r.name == "dlkdd.backbones.weights"]
    assert len(loads) == 1 and f"Loaded {len(state) - 2} tensors from '{hub_dir / file_name}'" in loads[0]
    assert "a new head for 11 classes" in loads[0]  # ARID's 11, replacing the stand-in's 400
    assert "val/top1" in fit.trainer.callback_metrics


# The authors' Zero-DCE (Li-Chongyi/Zero-DCE Zero-DCE_code/snapshots/Epoch99.pth), SHA-256 a4395acb...
ZERO_DCE_FILE = "zero_dce_Epoch99-a4395acb.pth"


def test_zero_dce_sice_is_the_authors_epoch99_stored_under_its_checksum():
    weights = published_weights("zero_dce_sice", "zero_dce_v1", None)
    assert weights.url == ("https://raw.githubusercontent.com/Li-Chongyi/Zero-DCE/master/Zero-DCE_code/"
                           "snapshots/Epoch99.pth")
    assert weights.file_name == ZERO_DCE_FILE and weights.cache_path.name == ZERO_DCE_FILE
    with pytest.raises(ValueError, match=r"of enhancer 'zero_dce_v1'.*--data.enhancer zero_dce_v1 \(got"):
        create_enhancer("zero_dce", checkpoint="zero_dce_sice")  # Zero-DCE++ is another network


def test_the_authors_zero_dce_downloads_by_name_checks_its_sha256_and_brightens(server, hub_dir):
    real = shared_file("weights/zero_dce_Epoch99.pth").read_bytes()
    assert hashlib.sha256(real).hexdigest().startswith("a4395acb")
    server.files[ZERO_DCE_FILE] = real

    enhancer = create_enhancer("zero_dce_v1", checkpoint="zero_dce_sice")

    assert server.requests == [ZERO_DCE_FILE] and (hub_dir / ZERO_DCE_FILE).read_bytes() == real
    released = torch.load(io.BytesIO(real), map_location="cpu", weights_only=True)
    assert all(torch.equal(enhancer.state_dict()[k], v) for k, v in released.items())
    dark = torch.rand(1, 3, 2, 32, 32) * 0.1
    with torch.no_grad():
        assert enhancer(dark).mean() > 2 * dark.mean()  # the released curves lift a dark clip
    create_enhancer("zero_dce_v1", checkpoint="zero_dce_sice")
    assert server.requests == [ZERO_DCE_FILE]  # the second time from the cache


def test_zero_dce_bytes_of_another_checksum_are_refused_and_leave_nothing(server, hub_dir):
    server.files[ZERO_DCE_FILE] = _weights_file({"e_conv1.weight": torch.zeros(32, 3, 3, 3)})[0]
    with pytest.raises(ValueError, match=r"'zero_dce_sice' downloaded from .* not match their checksum"):
        create_enhancer("zero_dce_v1", checkpoint="zero_dce_sice")
    assert list(hub_dir.iterdir()) == []


def test_offline_zero_dce_names_the_option_the_file_to_place_and_the_ways_on(hub_dir, monkeypatch):
    monkeypatch.setenv(MIRROR_VARIABLE, "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(FileNotFoundError) as error:
        create_enhancer("zero_dce_v1", checkpoint="zero_dce_sice")
    message = str(error.value)
    assert "'zero_dce_sice' (--data.enhancer_options.checkpoint)" in message
    assert f"in the folder '{hub_dir}' as '{ZERO_DCE_FILE}'" in message
    assert "renamed: the publisher calls it 'Epoch99.pth'" in message
    assert "raw.githubusercontent.com/Li-Chongyi/Zero-DCE" in message and MIRROR_VARIABLE in message
    assert "a local file" in message and "--data.enhancer gic" in message
