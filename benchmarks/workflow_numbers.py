"""Numbers read off the workflow: the diffusion sharing factor (dry run) and per-stage costs (benchmark files)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DIFFUSION_RULES = ("train_lora", "generate", "select")


def job_counts(configfile: Path, workdir: Path) -> dict[str, int]:
    """Jobs per rule of ``snakemake -n`` (the 'Job stats' table)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "--directory",
                           str(workdir), "--configfile", str(configfile), "--cores", "1"],
                          capture_output=True, text=True, check=True)
    table = proc.stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def paper_grid_sharing(workdir: Path) -> dict[str, float]:
    """Diffusion jobs of config/config.yaml's grid against the runs that read their output."""
    from air_core.recipes import grid_cells, synthetic_needed

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    data = workdir / "images"
    for c in range(3):  # a stand-in for the user's dataset, which is not on this machine
        (data / f"class_{c}").mkdir(parents=True, exist_ok=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * c, np.uint8)).save(data / f"class_{c}" / f"{i}.png")
    config["datasets"] = {name: {"layout": "imagefolder", "root": str(data)} for name in ("d1", "d2")}
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    counts = job_counts(configfile, workdir)
    runs = counts.get("train_prompts", 0)
    synthetic_cells = [m for _, _, m in grid_cells(config) if synthetic_needed(config["methods"][m])]
    users = len(synthetic_cells) * len(config["seeds"]) * len(config["datasets"])
    diffusion = sum(counts.get(r, 0) for r in DIFFUSION_RULES)
    return {"diffusion_jobs": diffusion, "runs": runs, "runs_using_synthetic": users,
            "sharing_factor": users / max(counts.get("select", 1), 1)}


def stage_costs(results_dir: Path) -> pd.DataFrame:
    """Wall time and peak RSS per rule from the Snakemake benchmark files of a finished run."""
    rows = []
    for tsv in sorted((results_dir / "benchmarks").rglob("*.tsv")):
        bench = pd.read_csv(tsv, sep="\t")
        rows.append({"rule": tsv.parent.name, "job": tsv.stem, "seconds": float(bench["s"].iloc[0]),
                     "max_rss_mb": float(bench["max_rss"].iloc[0])})
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "seconds_total", "seconds_max", "max_rss_mb"])
    frame = pd.DataFrame(rows)
    return (frame.groupby("rule").agg(jobs=("job", "count"), seconds_total=("seconds", "sum"),
                                      seconds_max=("seconds", "max"), max_rss_mb=("max_rss_mb", "max"))
            .reset_index().sort_values("seconds_total", ascending=False))
