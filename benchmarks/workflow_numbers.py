"""Numbers read off the workflow: the diffusion sharing factor (dry run) and per-stage costs (benchmark files)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DIFFUSION_RULES = ("train_lora", "generate", "select")


def job_counts(configfile: Path, workdir: Path) -> dict[str, int]:
    """Jobs per rule of ``snakemake -n`` (the 'Job stats' table)."""
    from tests.helpers import snakemake_argv

    proc = subprocess.run(
        snakemake_argv(workdir, "-n", "--configfile", str(configfile), "--cores", "1"),
        capture_output=True,
        text=True,
        check=True,
    )
    table = proc.stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def paper_grid_sharing(workdir: Path) -> dict[str, float]:
    """Diffusion jobs of config/config.yaml's grid against the runs that read their output."""
    from air_core.experiment import load_experiment

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for entry in config["datasets"].values():  # stand-ins for the datasets, which are not on this machine
        entry.pop("data_root", None)
        entry["root"] = str(workdir / "data" / entry["preset"])
        Path(entry["root"]).mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    counts = job_counts(configfile, workdir)
    exp = load_experiment(config)
    users = sum(exp.recipe(r.method, r.dataset, r.paradigm, r.prompt).reads_synthetic for r in exp.runs())
    diffusion = sum(counts.get(r, 0) for r in DIFFUSION_RULES)
    return {
        "diffusion_jobs": diffusion,
        "runs": counts.get("train_prompts", 0),
        "runs_using_synthetic": users,
        "sharing_factor": users / max(counts.get("select", 1), 1),
    }


def stage_costs(results_dir: Path) -> pd.DataFrame:
    """Wall time and peak RSS per rule from the Snakemake benchmark files of a finished run."""
    rows = []
    for tsv in sorted((results_dir / "benchmarks").rglob("*.tsv")):
        bench = pd.read_csv(tsv, sep="\t")
        rows.append(
            {
                "rule": tsv.parent.name,
                "job": tsv.stem,
                "seconds": float(bench["s"].iloc[0]),
                "max_rss_mb": float(bench["max_rss"].iloc[0]),
            }
        )
    if not rows:
        return pd.DataFrame(columns=["rule", "jobs", "seconds_total", "seconds_max", "max_rss_mb"])
    frame = pd.DataFrame(rows)
    return (
        frame.groupby("rule")
        .agg(
            jobs=("job", "count"),
            seconds_total=("seconds", "sum"),
            seconds_max=("seconds", "max"),
            max_rss_mb=("max_rss_mb", "max"),
        )
        .reset_index()
        .sort_values("seconds_total", ascending=False)
    )
