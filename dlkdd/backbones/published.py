"""Published weights by name (``pretrained: <name>``), fetched into the torch hub cache with a checksum.

* ``kinetics400``: torchvision's Kinetics-400 weights of the backbone (its ``kinetics_weights`` entry).
* ``ig65m_8`` / ``ig65m_32``: R(2+1)D-34 pretrained on IG-65M (65 M Instagram videos) on 8- or 32-frame
  clips; ``ig65m_kinetics_8`` / ``ig65m_kinetics_32``: the same, fine-tuned on Kinetics-400. The VMZ
  Caffe2 models as converted by moabitcoin/ig65m-pytorch (its v1.0.0 release, the files DarkLight and the
  later ARID results start from); for the ``r2plus1d_34`` backbone only.

Every file is named ``<stem>-<first 8 hex digits of its SHA-256>.pth`` (torch hub's convention), so the
name is the checksum. Files come from their publisher's URL, or from ``$DLKDD_WEIGHTS_URL/<file name>``
when that variable is set (a mirror on a cluster without internet, or a test server).
:func:`register_published_weights` adds a name of one's own.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision

KINETICS400 = "kinetics400"
MIRROR_VARIABLE = "DLKDD_WEIGHTS_URL"
_IG65M_RELEASE = "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0/"
# name -> file of the ig65m-pytorch release (classes of the file's own head in the comment).
IG65M = {
    "ig65m_8": "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth",  # 487 IG-65M hashtags
    "ig65m_32": "r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth",  # 359 IG-65M hashtags
    "ig65m_kinetics_8": "r2plus1d_34_clip8_ft_kinetics_from_ig65m-0aa0550b.pth",  # 400 Kinetics classes
    "ig65m_kinetics_32": "r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth",  # 400 Kinetics classes
}
IG65M_BACKBONE = "r2plus1d_34"
_HASH = re.compile(r"-([a-f0-9]{8,})\.")
# name -> (backbone, URL): weights published for one backbone. Filled below; register_published_weights
# adds one (a lab's own release, a stand-in served to a test).
_PUBLISHED: dict[str, tuple[str, str]] = {}


@dataclass(frozen=True)
class PublishedWeights:
    name: str  # the `pretrained` value
    url: str  # where its publisher serves it

    @property
    def file_name(self) -> str:
        return Path(urlparse(self.url).path).name

    @property
    def cache_path(self) -> Path:
        # torch.hub.load_state_dict_from_url's file, so a cache filled by torchvision or torch.hub just works.
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name

    @property
    def source_url(self) -> str:
        mirror = os.environ.get(MIRROR_VARIABLE)
        return f"{mirror.rstrip('/')}/{self.file_name}" if mirror else self.url


def register_published_weights(name: str, backbone: str, url: str) -> None:
    """Make ``pretrained: <name>`` fetch `url` for `backbone`. The file name must end in
    ``-<SHA-256 prefix>.<ext>`` (torch hub's convention): that is the checksum a download must match."""
    if not _HASH.search(Path(urlparse(url).path).name):
        raise ValueError(f"Published weights {url}: the file name carries no '-<sha256 prefix>.' checksum.")
    _PUBLISHED[name] = (backbone, url)


for _name, _file in IG65M.items():
    register_published_weights(_name, IG65M_BACKBONE, _IG65M_RELEASE + _file)


def kinetics_weights_file(weights_name: str) -> tuple[Path, str]:
    """(local cache file, URL) of a torchvision weights enum member, e.g. "R3D_18_Weights.KINETICS400_V1"."""
    weights = PublishedWeights(KINETICS400, torchvision.models.get_weight(weights_name).url)
    return weights.cache_path, weights.url


def is_published(pretrained: str | None) -> bool:
    return pretrained == KINETICS400 or pretrained in _PUBLISHED


def published_weights(pretrained: str, backbone: str, kinetics_weights: str | None) -> PublishedWeights:
    """The weights `pretrained` names for `backbone`; a ValueError when that backbone has none (checked
    without network or files, so a config is refused as soon as it is read)."""
    if pretrained == KINETICS400:
        if kinetics_weights is None:
            raise ValueError(
                f"Backbone '{backbone}' has no torchvision Kinetics-400 weights (option "
                f"--model.init_args.pretrained); "
                + (f"use one of {', '.join(IG65M)} or " if backbone == IG65M_BACKBONE else "")
                + "pass a local checkpoint path as pretrained=<path> instead."
            )
        return PublishedWeights(pretrained, torchvision.models.get_weight(kinetics_weights).url)
    owner, url = _PUBLISHED[pretrained]
    if backbone != owner:
        raise ValueError(
            f"--model.init_args.pretrained {pretrained}: these are weights of backbone '{owner}'; use them "
            f"with --model.init_args.backbone {owner} (got '{backbone}')."
        )
    return PublishedWeights(pretrained, url)


def fetch(weights: PublishedWeights, progress: bool = True) -> Path:
    """The cached file, downloaded first when it is not there (torch hub: a progress bar, a temporary file
    renamed into the cache only once complete and its SHA-256 matches the name)."""
    path = weights.cache_path
    if path.is_file():
        return path
    url = weights.source_url
    match = _HASH.search(weights.file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(path), match.group(1) if match else None, progress=progress)
    except RuntimeError as err:  # torch hub's hash check, which also catches a download cut short
        raise ValueError(
            f"Weights '{weights.name}' downloaded from {url} do not match their checksum ({err}): the "
            f"download was cut short or the server sent another file. Nothing was saved to {path.parent}; "
            "retry, or check what that URL serves."
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise FileNotFoundError(
            f"Weights '{weights.name}' are not in the torch hub cache and could not be downloaded from {url} "
            f"({err}). Without internet access, download the file '{weights.file_name}' on another machine "
            f"and place it in the folder '{path.parent}', or set {MIRROR_VARIABLE} to a server that has it."
        ) from None
    return path
