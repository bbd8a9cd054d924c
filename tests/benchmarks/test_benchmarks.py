"""The cost benchmarks run end to end at their smallest settings and write the JSON they promise (the
figures themselves come from full runs on a quiet machine; see docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest

from benchmarks import distill_overhead, enhancer_cost, inference_cost, view_cost
from dlkdd.enhance import list_enhancers


@pytest.mark.slow
def test_inference_cost_student_is_exactly_one_stream(tmp_path):
    out = tmp_path / "inference.json"
    inference_cost.main(["--batch_sizes", "2", "--rounds", "1", "--out", str(out)])
    results = json.loads(out.read_text())
    pipelines = results["pipelines"]
    student = pipelines["student (original view)"]
    assert results["student_is_one_stream"]
    assert pipelines["two-stream (gic)"]["gflops_per_clip"] == pytest.approx(2 * student["gflops_per_clip"])
    assert student["latency_ratio_b2"] == 1.0 and pipelines["two-stream (gic)"]["latency_ratio_b2"] > 0


@pytest.mark.slow
def test_distill_overhead_reports_the_ratio_its_limit_and_the_cached_step(tmp_path):
    out = tmp_path / "distill.json"
    distill_overhead.main(["--steps", "2", "--rounds", "1", "--out", str(out)])
    results = json.loads(out.read_text())
    assert results["limit"] > 1.0 and results["ratio"] > 0 and results["cached_ratio"] > 0
    assert results["distance_to_limit"] == pytest.approx(results["ratio"] / results["limit"] - 1)


@pytest.mark.slow
def test_view_and_enhancer_costs_cover_the_shipped_configs(tmp_path):
    views = view_cost.main(["--steps", "2", "--out", str(tmp_path / "views.json")])
    assert set(views["configs"]) == set(view_cost.SYNTHETIC)
    assert all(r["view_over_step"] > 0 for r in views["configs"].values())
    enhancer_cost.main(["--rounds", "1", "--out", str(tmp_path / "enhancers.json")])
    synthetic = json.loads((tmp_path / "enhancers.json").read_text())["settings"]["synthetic"]
    assert set(synthetic["enhancers"]) == set(list_enhancers())
    assert all(r["over_teacher_forward"] > 0 for r in synthetic["enhancers"].values())
