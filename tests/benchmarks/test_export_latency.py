"""The export latency benchmark runs end to end at its smallest setting and writes the JSON it promises
(the figures themselves come from a run under the CPU lock; see docs/results.md)."""

from __future__ import annotations

import json

import pytest

from benchmarks import export_latency

pytest.importorskip("onnxruntime", reason='the export extra: pip install -e ".[export]"')


def test_export_latency_times_the_three_runtimes_against_eager(tmp_path):
    out = tmp_path / "export.json"
    export_latency.main(["--presets", "synthetic", "--batch_sizes", "2", "--rounds", "1", "--out", str(out)])
    synthetic = json.loads(out.read_text())["presets"]["synthetic"]
    runtimes = synthetic["batches"]["2"]
    assert set(runtimes) == {"eager", "torchscript", "onnxruntime"}
    assert runtimes["eager"]["ratio_to_eager"] == 1
    assert all(r["clips_per_s"] > 0 and r["max_abs_diff_to_eager"] < 1e-4 for r in runtimes.values())
    assert synthetic["file_mib"]["onnxruntime"] > 0 and synthetic["file_mib"]["torchscript"] > 0
