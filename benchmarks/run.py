"""`make bench`: every performance figure of docs/performance.md, measured in one run.

Each section prints its details as it finishes; the end prints one table of the headline figures
(and writes it with ``--out``). Run on a quiet machine: the ratios compare two ways of doing the
same work under the same conditions, the seconds are this machine's.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from air_core.config import ClipSpec
from air_core.encode import encode_class_prompts
from air_core.models.clip import load_clip
from benchmarks import generation, gpu_plan, prompt_training, submissions, workflow_numbers

ROOT = Path(__file__).resolve().parents[1]


class Figures:
    """The headline figures of one run, in the order they were measured."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def add(self, item: str, figure: str, value: str) -> None:
        self.rows.append({"item": item, "figure": figure, "value": value})

    def table(self) -> str:
        return pd.DataFrame(self.rows).to_markdown(index=False)


def section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def spread(values: list[float]) -> str:
    """Median and range of a figure's repeats."""
    return f"{np.median(values):.2f} ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else f"{values[0]:.2f}"


def text_prompt_steps(figures: Figures, vit_b32, names: list[str], paths: list[str]) -> None:
    section("a. text-prompt training step, ViT-B/32 size, 10 classes, batch 32 (s/step)")
    text = {way: float(np.median(s)) for way, s in prompt_training.time_text_steps(vit_b32, names, paths).items()}
    ratio = text["reference"] / text["built"]
    print(f"reference {text['reference']:.3f} | built {text['built']:.3f} | ratio {ratio:.1f}x")
    figures.add(
        "a", "text-prompt step, ViT-B/32 size: reference / built s", f"{text['reference']:.2f} / {text['built']:.2f}"
    )
    figures.add("a", "text-prompt step speed-up", f"{ratio:.1f}x")


def shared_prefix_steps(figures: Figures, vit_b32, paths: list[str], repeats: int = 3) -> None:
    names = [
        n.strip() for n in (ROOT / "config" / "class_names" / "flowers102.txt").read_text().splitlines() if n.strip()
    ]
    section(
        f"f. text-prompt step, ViT-B/32 size, Flowers102's {len(names)} class names, batch 32 "
        f"(s/step, median and range of {repeats} repeats of 3 steps)"
    )
    ways = ("reference", "built", "shared_prefix")
    text = prompt_training.time_text_steps(vit_b32, names, paths, ways=ways, steps=3, repeats=repeats)
    over_ref = [r / s for r, s in zip(text["reference"], text["shared_prefix"], strict=True)]  # paired: same repeat
    over_built = [b / s for b, s in zip(text["built"], text["shared_prefix"], strict=True)]
    print(" | ".join(f"{way} {spread(text[way])}" for way in ways))
    print(f"shared prefix over reference {spread(over_ref)}x | over built {spread(over_built)}x")
    figures.add(
        "f",
        f"text-prompt step, {len(names)} classes: reference / built / shared prefix s",
        " / ".join(f"{np.median(text[w]):.2f}" for w in ways),
    )
    figures.add(
        "f", "shared-prefix speed-up over reference / over built", f"{spread(over_ref)}x / {spread(over_built)}x"
    )


def visual_prompt_epochs(figures: Figures, names: list[str], paths: list[str]) -> None:
    section("b. visual-prompt epoch, 64 images, batch 32 (s/epoch)")
    for label, arch in (("ViT-B/32 size", "ViT-B-32"), ("air-tiny-vit", "air-tiny-vit")):
        clip = load_clip(ClipSpec(arch=arch, pretrained=None))
        visual = prompt_training.time_visual_epochs(clip, torch.from_numpy(encode_class_prompts(clip, names)), paths)
        ratio = visual["reference"] / visual["built"]
        print(
            f"{label}: reference {visual['reference']:.2f} | built {visual['built']:.2f} | "
            f"ratio {ratio:.2f}x | one-off cache {visual['cache']:.2f} s"
        )
        figures.add(
            "b",
            f"visual-prompt epoch, {label}: reference / built s",
            f"{visual['reference']:.2f} / {visual['built']:.2f}",
        )
        figures.add("b", f"visual-prompt epoch speed-up, {label}", f"{ratio:.2f}x")


def generation_throughput(figures: Figures, out_dir: Path) -> None:
    section("c. generation throughput, tiny SD, 32 images, 10 steps (images/s)")
    gen = generation.images_per_second(out_dir)
    ratio = gen["batched"] / gen["one_per_call"]
    print(f"one per call {gen['one_per_call']:.2f} | batched {gen['batched']:.2f} | ratio {ratio:.1f}x")
    figures.add("c", "tiny-SD images/s: one per call / batched", f"{gen['one_per_call']:.2f} / {gen['batched']:.2f}")
    figures.add("c", "generation speed-up", f"{ratio:.1f}x")


def diffusion_sharing(figures: Figures, workdir: Path) -> None:
    section("d. diffusion sharing, config/config.yaml's grid on two datasets (snakemake -n)")
    sharing = workflow_numbers.paper_grid_sharing(workdir)
    print(json.dumps(sharing))
    figures.add(
        "d",
        "diffusion jobs / runs reading their output",
        f"{sharing['diffusion_jobs']} / {sharing['runs_using_synthetic']:.0f} (of {sharing['runs']})",
    )
    figures.add("d", "runs per prototype set (sharing factor)", f"{sharing['sharing_factor']:.1f}")


def demo_stages(figures: Figures, results_dir: Path) -> None:
    section(f"e. demo stages from the rules' benchmark files ({results_dir})")
    costs = workflow_numbers.stage_costs(results_dir)
    if not len(costs):
        print(f"no benchmark files under {results_dir}: run `make demo` first")
        return
    print(costs.to_markdown(index=False))
    figures.add(
        "e",
        "demo: jobs, summed job wall time, largest peak RSS",
        f"{costs['jobs'].sum()} jobs, {costs['seconds_total'].sum() / 60:.1f} min, {costs['max_rss_mb'].max():.0f} MB",
    )


def encode_memory(figures: Figures, n_images: int) -> None:
    section("2. memory: encoding images with a ViT-B/32-size CLIP, streamed in batches of 256")
    for n in sorted({min(500, n_images), n_images}):  # the same peak RSS for both = streaming
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.encode_memory", "--n", str(n)], cwd=ROOT, capture_output=True, text=True
        )
        if proc.returncode:
            print(proc.stderr[-2000:])
            continue
        numbers = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(numbers))
        figures.add(
            "2",
            f"encode {n:,} images: RSS model built / peak while encoding / all images held",
            f"{numbers['rss_model_built_mb']} / {numbers['peak_rss_encoding_mb']} / "
            f"{numbers['all_images_preprocessed_mb']} MB ({numbers['seconds']:.0f} s)",
        )


def gpu_prediction(figures: Figures, measured: dict) -> None:
    section("3. GPU plan: paper grid, predicted minutes on one H200 at 40% of bf16 peak")
    plan = gpu_plan.plan()
    print(plan.to_markdown(index=False))
    hours = gpu_plan.grid_gpu_hours()
    print(json.dumps(hours))
    figures.add(
        "3",
        "predicted H200 hours, text-prompt runs: cut / shared prefix",
        f"{hours['text_cut_hours']} / {hours['text_shared_prefix_hours']}",
    )
    figures.add(
        "3",
        "predicted H200 hours, config.yaml grid: diffusion / prompt runs",
        f"{hours['diffusion_hours']} / {hours['prompt_hours']} ({hours['prompt_runs']} runs; "
        f"{hours['prompt_hours_cut']} with the cut text path)",
    )
    if "per_job_s" not in measured:
        print("no start-up figures: run section g in the same call for the start-up hours")
        return
    if "vit_b32_build_s" not in measured:
        start = time.perf_counter()
        load_clip(ClipSpec(arch="ViT-B-32", pretrained=None))
        measured["vit_b32_build_s"] = time.perf_counter() - start
    # Every job as the tiny config's, plus building a ViT-B/32-size CLIP (an upper estimate: a text-prompt
    # run's evaluate builds none).
    per_job = measured["per_job_s"] + measured["vit_b32_build_s"]
    runs_per_pack = yaml.safe_load((submissions.PROFILE / "config.yaml").read_text())["group-components"]["run"]
    startup = gpu_plan.startup_hours(hours["prompt_runs"], runs_per_pack, measured["per_submission_s"], per_job)
    print(json.dumps({**measured, "per_job_with_vit_b32_s": per_job, "startup_hours": startup}))
    figures.add(
        "3",
        "H200 hours the prompt runs' jobs hold before working: one job per submission / packed",
        f"{startup['one_job_per_submission']} / {startup['packed']} (per submission "
        f"{measured['per_submission_s']:.1f} s, per job {per_job:.1f} s)",
    )
    figures.add(
        "3",
        "predicted H200 hours, grid in all: diffusion + prompt runs + start-up (packed)",
        f"{hours['diffusion_hours'] + hours['prompt_hours'] + startup['packed']:.1f}",
    )


def slurm_submissions(figures: Figures, workdir: Path, measured: dict, repeats: int = 2) -> None:
    section(
        "g. SLURM submissions: config/config.yaml's grid through profiles/slurm (snakemake -n); "
        f"the tiny config's prompt runs on the stand-in SLURM ({repeats} repeats per way)"
    )
    packed = submissions.paper_grid_plan(workdir / "plan")
    unpacked = submissions.paper_grid_plan(workdir / "plan", profile=submissions.without_packing(workdir / "unpacked"))
    print(json.dumps({"packed": packed, "one job per submission": unpacked}))
    figures.add(
        "g",
        "grid submissions (snakemake -n): packed / one job each",
        f"{packed['submissions']} (runs per pack: {packed['runs_per_pack']}) / {unpacked['submissions']}",
    )
    tiny = submissions.stand_in_wall_times(workdir / "tiny", repeats=repeats)
    startup = tiny["startup"].groupby("rule")[["imports_s", "model_built_s", "first_step_s", "job_s"]].median()
    print(tiny["startup"].to_markdown(index=False))
    print(startup.round(2).to_markdown())
    print(json.dumps(tiny["walls"]))
    jobs = tiny["startup"]
    figures.add(
        "g",
        "tiny config, model jobs: before the script starts (imports) / job s, median (range)",
        f"{spread(list(jobs['imports_s']))} / {spread(list(jobs['job_s']))} ({len(jobs)} jobs)",
    )
    train = jobs[jobs["rule"] == "train_prompts"]["first_step_s"].dropna()
    figures.add("g", "tiny config, train_prompts: first training step after s", f"{spread(list(train))}")
    walls = tiny["walls"]
    figures.add(
        "g",
        "tiny prompt runs on the stand-in SLURM: one job per submission / packed s (sbatch calls)",
        " / ".join(f"{spread(w['seconds'])} ({w['sbatch']})" for w in walls.values()),
    )
    figures.add(
        "g",
        "stand-in: sbatch to first job step, per submission s",
        " / ".join(spread(w["startup_s"]) for w in walls.values()),
    )
    steps = tiny["steps"]  # the last packed run's job steps: from srun to the job's first work
    print(steps.round(2).to_markdown(index=False))
    work = steps["first_step_s"].fillna(steps["model_built_s"]).fillna(steps["script_s"])
    figures.add(
        "g",
        "stand-in, packed: job step start to its first work s (own Snakemake / script start)",
        f"{spread(list(work))} ({spread(list(steps['snakemake_s']))} / {spread(list(steps['script_s']))})",
    )
    measured["per_submission_s"] = float(np.median(sum((w["startup_s"] for w in walls.values()), [])))
    measured["per_job_s"] = float(np.median(work))


SECTIONS = ("a", "f", "b", "c", "d", "e", "g", "2", "3")


def run_sections(figures: Figures, args: argparse.Namespace, tmp: Path) -> None:
    wanted = set(args.only or SECTIONS)
    names = [f"class {i}" for i in range(10)]
    paths = prompt_training.write_images(tmp / "images", 64)
    measured: dict = {}  # start-up figures of section g, for the GPU plan (3)
    if wanted & {"a", "f"}:
        start = time.perf_counter()
        vit_b32 = load_clip(ClipSpec(arch="ViT-B-32", pretrained=None))
        measured["vit_b32_build_s"] = time.perf_counter() - start
        if "a" in wanted:
            text_prompt_steps(figures, vit_b32, names, paths)
        if "f" in wanted:
            shared_prefix_steps(figures, vit_b32, paths)
    steps = {
        "b": lambda: visual_prompt_epochs(figures, names, paths),
        "c": lambda: generation_throughput(figures, tmp / "gen"),
        "d": lambda: diffusion_sharing(figures, tmp / "dry"),
        "e": lambda: demo_stages(figures, Path(args.demo_results)),
        "g": lambda: slurm_submissions(figures, tmp / "slurm", measured),
        "2": lambda: encode_memory(figures, args.encode_images),
        "3": lambda: gpu_prediction(figures, measured),
    }
    for key, step in steps.items():
        if key in wanted:
            step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encode-images", type=int, default=10_000, help="images for the memory benchmark")
    parser.add_argument("--demo-results", default=str(ROOT / "results_demo"), help="a finished demo's results_dir")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (this machine has 2 cores)")
    parser.add_argument("--out", help="also write the summary table here (Markdown)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    print(
        f"# make bench: torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads",
        flush=True,
    )
    figures = Figures()
    with tempfile.TemporaryDirectory() as tmp:
        run_sections(figures, args, Path(tmp))
    section(f"summary ({(time.perf_counter() - start) / 60:.1f} min)")
    print(figures.table())
    if args.out:
        Path(args.out).write_text(figures.table() + "\n")


if __name__ == "__main__":
    main()
