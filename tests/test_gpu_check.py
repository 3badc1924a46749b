"""The GPU check's every figure runs on the CPU with the tiny models (--smoke), and the plan reads its table."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_check import earlier_rows, environment, run, smoke_settings
from benchmarks.gpu_plan import grid_gpu_hours, measured_throughput

ROOT = Path(__file__).resolve().parents[1]
# Every figure the check must measure: generation at each batch size, then these, in this order.
FIGURES = [
    "train_lora",
    "encode_jpeg",
    "encode_tensor",
    "text_cut_fp32",
    "text_cut_fp16",
    "text_shared_prefix_fp32",
    "text_shared_prefix_fp16",
    "vpt",
]


@pytest.fixture(scope="module")
def smoke_table(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "table.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc.stdout


def test_smoke_measures_every_figure(smoke_table):
    out, stdout = smoke_table
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    expected = [f"generate_b{b}" for b in smoke_settings().generate_batches] + FIGURES
    assert [r["key"] for r in rows] == expected
    for row in rows:
        assert row["error"] is None, row
        assert row["iterations"] >= 1
        for key in ("tflop_per_unit", "predicted", "measured", "ratio", "seconds"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["key"], key)
        assert row["ratio"] == pytest.approx(row["measured"] / row["predicted"])
    table = out.read_text()
    assert table in stdout  # the table printed is the table written
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + len(expected)  # the header and one line per figure
    for row in rows:
        assert any(line.startswith(f"| {row['figure']} |") for line in lines)


def test_the_plan_prices_the_grid_at_the_smoke_rates(smoke_table):
    out, _ = smoke_table
    rates = measured_throughput(out.with_suffix(".json"))
    assert set(rates.tflops) == {"generate", "train_lora", "encode", "visual"}
    assert len(rates.text_steps) == 2  # the cut path's and the shared prefix's step
    # the CPU's tiny-model rates against 40 % of an H200's peak: the grid takes far longer
    assert grid_gpu_hours(measured=rates)["diffusion_hours"] > grid_gpu_hours()["diffusion_hours"]


def test_a_partial_rerun_keeps_the_other_sections_rows(smoke_table, tmp_path):
    out, _ = smoke_table
    settings = smoke_settings()
    kept = earlier_rows(out, environment(settings, smoke=True)["device"])
    written = []
    rows = run(settings, tmp_path, written.append, only=(), kept=kept)  # no section runs: every row is kept
    assert written == [] and [r.key for r in rows] == list(kept) and rows == list(kept.values())
    assert earlier_rows(out, "another GPU") == {}  # another device's rows are not mixed in
    fresh = run(settings, tmp_path, written.append, only=(), kept=None)
    assert {r.error for r in fresh} == {"not run (--only)"}
