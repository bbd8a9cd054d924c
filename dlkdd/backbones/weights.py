"""Weights without network access.

* ``"kinetics400"``: torchvision's Kinetics-400 weights, read only from the local torch hub cache (the file
  ``torch.hub.load_state_dict_from_url`` would have downloaded); training machines may have no internet, so
  a missing file is an error that says where to put it, never a download.
* a local path: a checkpoint loaded into a :class:`~dlkdd.backbones.Backbone` (``net`` + ``head``).

Checkpoint key mapping: the tensors are taken from a raw state_dict, from ``ckpt["state_dict"]`` (Lightning)
or from ``ckpt["model"]``. Exactly one source prefix is stripped (e.g. ``"backbone."`` of a LightningModule
holding the Backbone as ``self.backbone``, ``"student."``, ``"module."``) and the rest is matched either to
the Backbone's own keys (``net.*``, ``head.*``) or, for a bare torchvision / feature-extractor state_dict, to
``net.*``. The prefix pair matching the most keys wins, so a distillation checkpoint holding a teacher and a
student loads only one of them (the student on a tie). Tensors with another shape (typically a head trained
for another number of classes) are skipped. Everything that did not load is reported.
"""

from __future__ import annotations

import logging
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import Tensor, nn

KINETICS400 = "kinetics400"
# A Backbone's own keys, or those of a bare feature extractor / torchvision model that lives in ``net``.
_TARGET_PREFIXES = ("", "net.")

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    path: str
    prefix: str  # source prefix that was stripped
    loaded: list[str] = field(default_factory=list)  # target keys that received a tensor
    missing: list[str] = field(default_factory=list)  # target keys left at their initial values
    unexpected: list[str] = field(default_factory=list)  # source keys under `prefix` with no target
    skipped: list[str] = field(default_factory=list)  # target keys whose checkpoint tensor had another shape
    ignored: list[str] = field(default_factory=list)  # source keys outside `prefix` (e.g. a teacher)


def kinetics_weights_file(weights_name: str) -> tuple[Path, str]:
    """(local cache file, URL) of a torchvision weights enum member, e.g. "R3D_18_Weights.KINETICS400_V1"."""
    url = torchvision.models.get_weight(weights_name).url
    # Same name and directory as torch.hub.load_state_dict_from_url, so a cache filled elsewhere just works.
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name, url


def load_kinetics_weights(model: nn.Module, name: str, weights_name: str | None) -> None:
    """Load torchvision weights into the full torchvision ``model`` (its original 400-class head included)."""
    if weights_name is None:
        raise ValueError(
            f"Backbone '{name}' has no torchvision Kinetics-400 weights; pass a local checkpoint path as "
            f"pretrained=<path> instead."
        )
    path, url = kinetics_weights_file(weights_name)
    if not path.is_file():
        raise FileNotFoundError(
            f"Kinetics-400 weights for backbone '{name}' are not in the local torch hub cache and are never "
            f"downloaded: place the file '{path.name}' in the directory '{path.parent}' "
            f"(download it on a machine with internet access from {url})."
        )
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    log.info("Loaded %s weights for '%s' from %s", weights_name, name, path)


def load_checkpoint(module: nn.Module, path: str | Path) -> LoadReport:
    """Load a local checkpoint into a Backbone non-strictly (see the module docstring for the key mapping)."""
    source = _read_state_dict(Path(path))
    target = module.state_dict()
    prefix, target_prefix = _best_prefixes(source, target)
    report = LoadReport(str(path), prefix)
    matched: dict[str, Tensor] = {}
    for key, tensor in source.items():
        if not key.startswith(prefix):
            report.ignored.append(key)
            continue
        name = target_prefix + key[len(prefix) :]
        if name not in target:
            report.unexpected.append(key)
        elif tensor.shape != target[name].shape:
            report.skipped.append(name)
        else:
            matched[name] = tensor
    if not matched:
        raise ValueError(
            f"No tensor in checkpoint '{path}' matches the backbone (checkpoint keys e.g. "
            f"{list(source)[:3]}, expected e.g. {list(target)[:3]}); is it a checkpoint of this architecture?"
        )
    module.load_state_dict(matched, strict=False)
    report.loaded = list(matched)
    report.missing = [k for k in target if k not in matched]
    _log_report(report)
    return report


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"Checkpoint '{path}' given as option `pretrained` does not exist; pass an existing file, "
            f"'{KINETICS400}' or None."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refuses arbitrary pickled objects (e.g. custom classes in Lightning hyper-parameters).
        raise ValueError(
            f"Checkpoint '{path}' holds objects that torch.load(weights_only=True) refuses; save its "
            f"state_dict alone, e.g. torch.save(ckpt['state_dict'], 'weights.pt'), and pass that file."
        ) from err
    if isinstance(ckpt, dict):
        ckpt = ckpt.get("state_dict", ckpt.get("model", ckpt))
    if not isinstance(ckpt, dict):
        raise ValueError(f"Checkpoint '{path}' is not a state_dict (found {type(ckpt).__name__}).")
    return {k: v for k, v in ckpt.items() if isinstance(v, Tensor)}


def _best_prefixes(source: dict[str, Tensor], target: dict[str, Tensor]) -> tuple[str, str]:
    """(prefix to strip from source keys, prefix to add) that maps the most source keys onto target keys."""
    votes: Counter[tuple[str, str]] = Counter()
    for key in source:
        parts = key.split(".")
        for i in range(len(parts)):
            stripped = ".".join(parts[:i]) + "." if i else ""
            rest = ".".join(parts[i:])
            for added in _TARGET_PREFIXES:
                if added + rest in target:
                    votes[stripped, added] += 1
    if not votes:
        return "", ""
    # Ties (a teacher and a student of the same architecture) go to the non-teacher, then the shorter prefix.
    return max(votes, key=lambda p: (votes[p], "teacher" not in p[0], -len(p[0])))


def _log_report(report: LoadReport) -> None:
    log.info(
        "Loaded %d tensors from '%s' (prefix %r stripped)", len(report.loaded), report.path, report.prefix
    )
    if report.ignored:
        log.info("Ignored %d checkpoint keys outside prefix %r", len(report.ignored), report.prefix)
    if report.missing or report.unexpected or report.skipped:
        log.warning(
            "Partial load from '%s': missing %s; unexpected %s; skipped for shape mismatch %s",
            report.path,
            _preview(report.missing),
            _preview(report.unexpected),
            _preview(report.skipped),
        )


def _preview(keys: list[str], limit: int = 8) -> str:
    # A partial load can miss hundreds of keys; the log needs the first few and the count.
    more = f" ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return f"{keys[:limit]}{more}"
