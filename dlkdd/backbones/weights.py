"""Loading weights into a :class:`~dlkdd.backbones.Backbone` (``net`` + ``head``).

Published weights (``kinetics400``, ``ig65m_*``: see :mod:`dlkdd.backbones.published`) are downloaded
into the torch hub cache; a local path is read as it is. Either way the file's tensors are matched here.

Key mapping: the tensors are taken from a raw state_dict, from ``ckpt["state_dict"]`` (Lightning, DarkLight)
or from ``ckpt["model"]``. Exactly one source prefix is stripped (e.g. ``"backbone."`` of a LightningModule
holding the Backbone as ``self.backbone``, ``"student."``, ``"module."``) and the rest is matched either to
the Backbone's own keys (``net.*``, ``head.*``) or, for a bare torchvision / feature-extractor state_dict, to
``net.*``. The prefix pair matching the most keys wins, so a distillation checkpoint holding a teacher and a
student loads only one of them (the student on a tie). DarkLight's R(2+1)D-34 layout (``features.0`` the
stem, ``features.1..4`` layer1-4, head ``fc_action``) is renamed to torchvision's first.

The source's classifier (the torchvision model's own head, e.g. ``fc``, or a Backbone's ``head``) goes to
``head`` when it has the same number of classes; otherwise the head stays new, which is what fine-tuning
wants: one info line says so. A warning is only for what may be a mistake: backbone tensors the file does
not have, tensors that fit nowhere, tensors of another shape.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from dlkdd.backbones.published import KINETICS400

# A Backbone's own keys, or those of a bare feature extractor / torchvision model that lives in ``net``.
_TARGET_PREFIXES = ("", "net.")
_HEAD = "head."
# DarkLight (Ticuby/Darklight-Pytorch): nn.Sequential(*list(r2plus1d_34.children())[:-2]) as `features`.
_DARKLIGHT_NAMES = {"features.0.": "stem.", **{f"features.{k}.": f"layer{k}." for k in range(1, 5)},
                    "fc_action.": "fc."}
_DARKLIGHT_KEY = re.compile(r"(^|\.)(features\.[0-4]\.|fc_action\.)")

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    path: str
    prefix: str  # source prefix that was stripped
    loaded: list[str] = field(default_factory=list)  # target keys that received a tensor
    missing: list[str] = field(default_factory=list)  # target keys left at their initial values
    unexpected: list[str] = field(default_factory=list)  # source keys under `prefix` with no target
    skipped: list[str] = field(default_factory=list)  # non-head target keys whose tensor had another shape
    ignored: list[str] = field(default_factory=list)  # source keys outside `prefix` (e.g. a teacher)
    head_replaced: list[str] = field(default_factory=list)  # source head keys for another class count
    source_classes: int | None = None  # classes of the source's head, when it has one
    darklight: bool = False  # the file was in DarkLight's layout

    @property
    def missing_backbone(self) -> list[str]:
        return [k for k in self.missing if not k.startswith(_HEAD)]


def load_backbone_weights(module: nn.Module, path: str | Path, source_head: str = "fc") -> LoadReport:
    """Load a checkpoint file into a Backbone non-strictly (see the module docstring for the key mapping).
    `source_head`: the attribute holding the classifier in a bare model of this architecture (torchvision's
    ``fc``, ``classifier`` or ``head``)."""
    source = _read_state_dict(Path(path))
    target = module.state_dict()
    darklight = _is_darklight(source, target)
    original = {}  # renamed key -> the file's own, for the report
    if darklight:
        original = {_DARKLIGHT_KEY.sub(lambda m: m.group(1) + _DARKLIGHT_NAMES[m.group(2)], k, count=1): k
                    for k in source}
        source = {new: source[old] for new, old in original.items()}
    prefix, target_prefix = _best_prefixes(source, target, source_head)
    report = LoadReport(str(path), prefix, darklight=darklight)
    matched: dict[str, Tensor] = {}
    for key, tensor in source.items():
        if not key.startswith(prefix):
            report.ignored.append(original.get(key, key))
            continue
        rest = key[len(prefix):]
        head_rest = _head_rest(rest, target_prefix, source_head)
        name = target_prefix + rest if head_rest is None else _HEAD + head_rest
        if head_rest is not None and (name not in target or tensor.shape != target[name].shape):
            report.head_replaced.append(original.get(key, key))
            if tensor.dim() == 2 or head_rest.endswith("bias"):
                report.source_classes = tensor.shape[0]
        elif name not in target:
            report.unexpected.append(original.get(key, key))
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
    _log_report(report, num_classes=target[_HEAD + "weight"].shape[0] if _HEAD + "weight" in target else None)
    return report


def _head_rest(rest: str, target_prefix: str, source_head: str) -> str | None:
    """The part after the head's name when `rest` (a source key, prefix stripped) is a classifier tensor."""
    if target_prefix == "" and rest.startswith(_HEAD):
        return rest[len(_HEAD):]
    if target_prefix == "net." and rest.startswith(source_head + "."):
        return rest[len(source_head) + 1:]
    return None


def _is_darklight(source: dict[str, Tensor], target: dict[str, Tensor]) -> bool:
    # Only for torchvision's ResNet layout (stem, layer1-4): other nets may have `features.N` of their own.
    resnet = any(k.startswith("net.layer4.") for k in target) and not any(".features." in k for k in target)
    darklight_keys = any(_DARKLIGHT_KEY.search(k) for k in source)
    return resnet and darklight_keys and not any(".layer4." in k for k in source)


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"Checkpoint '{path}' given as option `pretrained` does not exist; pass an existing file, "
            f"'{KINETICS400}', one of the IG-65M names (ig65m_32, ...) or None."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refuses arbitrary pickled objects (e.g. custom classes in Lightning hyper-parameters).
        raise ValueError(
            f"Checkpoint '{path}' holds objects that torch.load(weights_only=True) refuses; save its "
            f"state_dict alone, e.g. torch.save(ckpt['state_dict'], 'weights.pt'), and pass that file."
        ) from err
    except (RuntimeError, EOFError) as err:  # not a torch file, or cut short
        raise ValueError(f"Checkpoint '{path}' given as option `pretrained` is not a readable torch file "
                         f"({err}); was it copied whole?") from None
    if isinstance(ckpt, dict):
        ckpt = ckpt.get("state_dict", ckpt.get("model", ckpt))
    if not isinstance(ckpt, dict):
        raise ValueError(f"Checkpoint '{path}' is not a state_dict (found {type(ckpt).__name__}).")
    return {k: v for k, v in ckpt.items() if isinstance(v, Tensor)}


def _best_prefixes(source: dict[str, Tensor], target: dict[str, Tensor], source_head: str) -> tuple[str, str]:
    """(prefix to strip from source keys, prefix to add) that maps the most source keys onto target keys."""
    votes: Counter[tuple[str, str]] = Counter()
    for key in source:
        parts = key.split(".")
        for i in range(len(parts)):
            stripped = ".".join(parts[:i]) + "." if i else ""
            rest = ".".join(parts[i:])
            for added in _TARGET_PREFIXES:
                head_rest = _head_rest(rest, added, source_head)
                if (added + rest if head_rest is None else _HEAD + head_rest) in target:
                    votes[stripped, added] += 1
    if not votes:
        return "", ""
    # Ties (a teacher and a student of the same architecture) go to the non-teacher, then the shorter prefix.
    return max(votes, key=lambda p: (votes[p], "teacher" not in p[0], -len(p[0])))


def _log_report(report: LoadReport, num_classes: int | None) -> None:
    layout = ", DarkLight layout" if report.darklight else ""
    head = ""
    if report.head_replaced:
        was = f" the file's head is for {report.source_classes} classes" if report.source_classes else ""
        head = f"; a new head for {num_classes} classes (expected when fine-tuning:{was})"
    log.info("Loaded %d tensors from '%s' (prefix %r stripped%s)%s",
             len(report.loaded), report.path, report.prefix, layout, head)
    if report.ignored:
        log.info("Ignored %d checkpoint keys outside prefix %r", len(report.ignored), report.prefix)
    if report.missing_backbone or report.unexpected or report.skipped:
        log.warning(
            "Partial load from '%s': backbone tensors missing %s; unexpected %s; "
            "skipped for shape mismatch %s",
            report.path,
            _preview(report.missing_backbone),
            _preview(report.unexpected),
            _preview(report.skipped),
        )


def _preview(keys: list[str], limit: int = 8) -> str:
    # A partial load can miss hundreds of keys; the log needs the first few and the count.
    more = f" ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return f"{keys[:limit]}{more}"
