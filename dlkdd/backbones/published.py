"""Published weights by name, fetched into the torch hub cache with a checksum.

Backbones (``--model.init_args.pretrained <name>``):

* ``kinetics400``: torchvision's Kinetics-400 weights of the backbone (its ``kinetics_weights`` entry).
* ``ig65m_8`` / ``ig65m_32``: R(2+1)D-34 pretrained on IG-65M (65 M Instagram videos) on 8- or 32-frame
  clips; ``ig65m_kinetics_8`` / ``ig65m_kinetics_32``: the same, fine-tuned on Kinetics-400. The VMZ
  Caffe2 models as converted by moabitcoin/ig65m-pytorch (its v1.0.0 release, the files DarkLight and the
  later ARID results start from); for the ``r2plus1d_34`` backbone only.

Enhancers (``--data.enhancer_options '{checkpoint: <name>}'``):

* ``zero_dce_sice``: the authors' Zero-DCE weights (Guo, Li et al., CVPR 2020; trained on SICE), github
  Li-Chongyi/Zero-DCE ``Zero-DCE_code/snapshots/Epoch99.pth``, for the ``zero_dce_v1`` enhancer.

Every file is stored as ``<stem>-<first 8 hex digits of its SHA-256>.pth`` (torch hub's convention), so the
name is the checksum. Files whose publisher names them otherwise (Zero-DCE's ``Epoch99.pth``) get such a
name here: the publisher's URL is fetched, the bytes are checked against the name's digest and kept under
it. Files come from their publisher's URL, or from ``$DLKDD_WEIGHTS_URL/<file name>`` when that variable is
set (a mirror on a cluster without internet, or a test server), where the file name is the hashed one.
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
# The authors' Zero-DCE (default branch of Li-Chongyi/Zero-DCE), stored as zero_dce_Epoch99-<sha256[:8]>.
ZERO_DCE = {"zero_dce_sice": ("https://raw.githubusercontent.com/Li-Chongyi/Zero-DCE/master/Zero-DCE_code/"
                              "snapshots/Epoch99.pth", "zero_dce_Epoch99-a4395acb.pth")}
ZERO_DCE_ENHANCER = "zero_dce_v1"
_HASH = re.compile(r"-([a-f0-9]{8,})\.")


@dataclass(frozen=True)
class _Owner:
    """Who a published file is for, and how a user names it and gets by without it."""

    name: str  # a backbone or an enhancer
    kind: str  # "backbone" or "enhancer"

    @property
    def option(self) -> str:
        backbone = self.kind == "backbone"
        return "--model.init_args.pretrained" if backbone else "--data.enhancer_options.checkpoint"

    @property
    def choose(self) -> str:
        return "--model.init_args.backbone" if self.kind == "backbone" else "--data.enhancer"

    @property
    def without(self) -> str:
        if self.kind == "backbone":
            return f"or train from scratch with {self.option} null"
        return (f"or give {self.option} a local file (the authors' Epoch99.pth, or an enhancer trained on "
                "your dark videos with configs/<dataset>/enhancer.yaml), or use --data.enhancer gic, which "
                "needs no weights")


# name -> (owner, URL, file name): weights published for one backbone or enhancer. Filled below;
# register_published_weights adds one (a lab's own release, a stand-in served to a test).
_PUBLISHED: dict[str, tuple[_Owner, str, str]] = {}


@dataclass(frozen=True)
class PublishedWeights:
    name: str  # the `pretrained` (or enhancer `checkpoint`) value
    url: str  # where its publisher serves it
    stored_as: str | None = None  # the cache / mirror file name, when the URL's is not <stem>-<sha>.<ext>
    owner: _Owner = _Owner("", "backbone")

    @property
    def file_name(self) -> str:
        return self.stored_as or Path(urlparse(self.url).path).name

    @property
    def cache_path(self) -> Path:
        # torch.hub.load_state_dict_from_url's file, so a cache filled by torchvision or torch.hub just works.
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name

    @property
    def source_url(self) -> str:
        mirror = os.environ.get(MIRROR_VARIABLE)
        return f"{mirror.rstrip('/')}/{self.file_name}" if mirror else self.url


def register_published_weights(
    name: str, owner: str, url: str, file_name: str | None = None, kind: str = "backbone"
) -> None:
    """Make ``pretrained: <name>`` (``kind="backbone"``) or an enhancer's ``checkpoint: <name>``
    (``kind="enhancer"``) fetch `url` for `owner`. The file name (the URL's, or `file_name`, under which
    it is cached and mirrored) must end in ``-<SHA-256 prefix>.<ext>`` (torch hub's convention): that is the
    checksum a download must match."""
    stored_as = file_name or Path(urlparse(url).path).name
    if not _HASH.search(stored_as):
        raise ValueError(f"Published weights {url}: the file name {stored_as!r} carries no "
                         "'-<sha256 prefix>.' checksum; pass file_name='<stem>-<first 8 hex digits of its "
                         "sha256>.pth'.")
    _PUBLISHED[name] = (_Owner(owner, kind), url, stored_as)


for _name, _file in IG65M.items():
    register_published_weights(_name, IG65M_BACKBONE, _IG65M_RELEASE + _file)
for _name, (_url, _file) in ZERO_DCE.items():
    register_published_weights(_name, ZERO_DCE_ENHANCER, _url, _file, kind="enhancer")


def kinetics_weights_file(weights_name: str) -> tuple[Path, str]:
    """(local cache file, URL) of a torchvision weights enum member, e.g. "R3D_18_Weights.KINETICS400_V1"."""
    weights = PublishedWeights(KINETICS400, torchvision.models.get_weight(weights_name).url)
    return weights.cache_path, weights.url


def is_published(pretrained: str | None) -> bool:
    return pretrained == KINETICS400 or pretrained in _PUBLISHED


def enhancer_weights(checkpoint: str, enhancer: str) -> Path | None:
    """The cached (downloaded when absent) file of a published enhancer `checkpoint` name, else None (a
    path, read as it is)."""
    if checkpoint not in _PUBLISHED:
        return None
    return fetch(published_weights(checkpoint, enhancer, None))


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
    owner, url, stored_as = _PUBLISHED[pretrained]
    if backbone != owner.name:
        raise ValueError(
            f"{owner.option} {pretrained}: these are weights of {owner.kind} '{owner.name}'; use them "
            f"with {owner.choose} {owner.name} (got '{backbone}')."
        )
    return PublishedWeights(pretrained, url, stored_as, owner)


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
        renamed = "" if weights.stored_as is None else \
            f" (renamed: the publisher calls it '{Path(urlparse(weights.url).path).name}')"
        raise FileNotFoundError(
            f"Weights '{weights.name}' ({weights.owner.option}) are not in the torch hub cache and could not "
            f"be downloaded from {url} ({err}). Without internet access, download {weights.url} on another "
            f"machine and place it in the folder '{path.parent}' as '{weights.file_name}'{renamed}, or set "
            f"{MIRROR_VARIABLE} to a server that has it, {weights.owner.without}."
        ) from None
    return path
