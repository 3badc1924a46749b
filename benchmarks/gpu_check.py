"""`make gpu-check`: the GPU figures the project predicts (benchmarks/gpu_plan.py), measured on one CUDA GPU.

``python -m benchmarks.gpu_check --out table.md`` builds the paper's architectures with random
weights (SD v1-4 from ``air_core/model_configs/sd-v1-4-random.json``, open_clip's
ViT-B-32-quickgelu; nothing is downloaded), times each kind of work through the project's own code
(generation, a LoRA step, encoding images, a text- and a visual-prompt step), and prints one
Markdown table: each figure beside gpu_plan's prediction (an H200 at 40 % of its bf16 peak), the
ratio, and the peak GPU memory. ``table.json`` beside the table holds the same rows for
``python -m benchmarks.gpu_plan --measured table.json``.

Each measurement stops at its time budget, and the whole run at ``--budget`` seconds (a slow GPU
gives fewer iterations, or rows marked as skipped); a failing measurement becomes a row with its
error and the others go on. ``--smoke`` runs every measurement's code on the CPU with the tiny
models in seconds (its numbers mean nothing; tests/test_gpu_check.py runs it).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # the check never needs the network: every model is built here

import torch  # noqa: E402  (after HF_HUB_OFFLINE, which the hub libraries read at import)

log = logging.getLogger("gpu_check")
MFU = 0.4  # the plan's assumed fraction of the bf16 peak, which every prediction here is made at


@dataclass(frozen=True)
class Settings:
    """What one run builds and how long it may time each figure."""

    device: str
    sd_id: str  # an air_core/model_configs name, built with random weights
    clip_arch: str
    steps: int  # denoising steps per image
    generate_batches: tuple[int, ...]  # the first prices the plan's generation
    lora_batch: int
    lora_steps: int  # timed LoRA steps after the warm-up
    jpegs: int  # random JPEG files written for encoding
    jpeg_size: int
    encode_batch: int
    prompt_batch: int  # text- and visual-prompt steps (GRIP's batch size)
    warmup: int  # untimed iterations before each figure (allocator, cuDNN autotuning, kernels)
    max_iters: int
    figure_budget_s: float  # timed seconds per figure, at most
    budget_s: float  # no figure starts after this many seconds of the run (model building included)


def configured_generate_batch() -> int:
    """config/config.yaml's generate.batch_size: the batch the grid's generation runs at."""
    import yaml

    from benchmarks.gpu_plan import ROOT

    return int(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["generate"]["batch_size"])


def full_settings(budget_s: float) -> Settings:
    """The paper's models and config/config.yaml's batch sizes, on the GPU."""
    from air_core.config import LoraTrainConfig
    from air_core.recipes import resolve_recipe

    return Settings(
        device="cuda",
        sd_id="sd-v1-4-random",
        clip_arch="ViT-B-32-quickgelu",
        steps=25,
        generate_batches=tuple(dict.fromkeys((configured_generate_batch(), 8, 16))),
        lora_batch=LoraTrainConfig().batch_size,
        lora_steps=10,
        jpegs=256,
        jpeg_size=500,  # about a benchmark dataset's photo
        encode_batch=256,  # config/config.yaml's encode.batch_size
        prompt_batch=resolve_recipe("grip", {"base": "grip"}).batch_size,
        warmup=2,
        max_iters=200,
        figure_budget_s=15.0,
        budget_s=budget_s,
    )


def smoke_settings() -> Settings:
    """Every figure's code path with the tiny models on the CPU, one or two iterations each."""
    return Settings(
        device="cpu",
        sd_id="air-tiny-sd",
        clip_arch="air-tiny-vit",
        steps=2,
        generate_batches=(2, 4),
        lora_batch=2,
        lora_steps=1,
        jpegs=8,
        jpeg_size=48,
        encode_batch=4,
        prompt_batch=4,
        warmup=1,
        max_iters=1,
        figure_budget_s=1.0,
        budget_s=120.0,
    )


@dataclass
class Row:
    """One figure: its prediction from gpu_plan, and what was measured (or why not)."""

    key: str
    figure: str
    unit: str  # the rate's unit: images/s or steps/s
    tflop_per_unit: float  # gpu_plan.figure_tflop: the work of one image or step
    predicted: float  # gpu_plan.predicted_per_second
    plan: str | None = None  # the kind of work gpu_plan prices at this rate (gpu_plan.measured_throughput)
    measured: float | None = None
    iterations: int = 0
    seconds: float | None = None
    peak_gib: float | None = None
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        """Measured over predicted rate: above 1, faster than the plan assumes."""
        return None if self.measured is None else self.measured / self.predicted


def _row(key: str, figure: str, unit: str, tflop_per_unit: float, plan: str | None = None) -> Row:
    from benchmarks.gpu_plan import predicted_per_second

    return Row(key, figure, unit, tflop_per_unit, predicted_per_second(tflop_per_unit, MFU), plan)


def plan_rows(settings: Settings) -> dict[str, Row]:
    """Every figure with gpu_plan's prediction, in table order; ``plan`` marks the rows the plan is priced at."""
    from benchmarks.gpu_plan import figure_tflop

    work = figure_tflop(settings.steps, settings.lora_batch, vpt_batch=settings.prompt_batch)
    gen = f"SD v1-4 generation, 512x512, {settings.steps} DPM-Solver++ steps, CFG, fp16, LoRA fused, batch"
    rows = [
        _row(f"generate_b{b}", f"{gen} {b}", "images/s", work["generate"], None if i else "generate")
        for i, b in enumerate(settings.generate_batches)  # the first is config.yaml's generate.batch_size
    ]
    lora = f"LoRA step, batch {settings.lora_batch}, 512x512, fp16 UNet, fp32 LoRA weights"
    rows.append(_row("train_lora", lora, "steps/s", work["train_lora"], "train_lora"))
    rows.append(_row("encode_jpeg", "CLIP ViT-B/32 encode_real from JPEG files", "images/s", work["encode"], "encode"))
    rows.append(_row("encode_tensor", "CLIP ViT-B/32 encode from decoded tensors", "images/s", work["encode"]))
    for path, name in (("cut", "cut"), ("shared_prefix", "shared prefix")):
        for precision, label in (("fp32", "towers fp32"), ("fp16", "towers fp16 (cuda_dtype default)")):
            figure = f"text-prompt step, 102 classes, {name}, {label}"
            plan = f"text_{path}" if precision == "fp16" else None  # training runs the towers in cuda_dtype, fp16
            rows.append(_row(f"text_{path}_{precision}", figure, "steps/s", work[f"text_{path}"], plan))
    rows.append(_row("vpt", f"VPT step, batch {settings.prompt_batch}", "steps/s", work["visual"], "visual"))
    return {row.key: row for row in rows}


def environment(settings: Settings, smoke: bool) -> dict[str, str]:
    """The machine and library versions the figures belong to."""
    import diffusers
    import open_clip

    cuda = settings.device == "cuda" and torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({platform.machine()}, {os.cpu_count()} cores)",
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "open_clip": open_clip.__version__,
        "cuda": str(torch.version.cuda),
        "mode": "smoke (tiny models on the CPU: the numbers mean nothing)" if smoke else "full",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def markdown(rows: list[Row], env: dict[str, str]) -> str:
    """One Markdown table of every figure, the machine and versions in their own columns."""
    from benchmarks.gpu_plan import H200_BF16_TFLOPS

    lines = [
        f"| figure | unit | predicted (H200, {MFU:.0%} of {H200_BF16_TFLOPS:.0f} TFLOP/s) | measured | "
        "measured / predicted | peak GPU memory GiB | timed iterations | GPU | torch / diffusers | error |",
        "|:--|:--|--:|--:|--:|--:|--:|:--|:--|:--|",
    ]
    for row in rows:
        lines.append(
            f"| {row.figure} | {row.unit} | {_number(row.predicted)} | {_number(row.measured)} | "
            f"{_number(row.ratio, 2)} | {_number(row.peak_gib)} | {row.iterations} | {env['device']} | "
            f"{env['torch']} / {env['diffusers']} | {row.error or ''} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(rows: list[Row], env: dict[str, str], out: Path, settings: Settings) -> str:
    """The Markdown table at ``out`` and its rows as JSON beside it (``out`` with suffix .json)."""
    from benchmarks.gpu_plan import H200_BF16_TFLOPS

    table = markdown(rows, env)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    rows_json = [{**asdict(row), "ratio": row.ratio} for row in rows]
    meta = {**env, "settings": asdict(settings), "mfu": MFU, "peak_tflops": H200_BF16_TFLOPS}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows_json}, indent=1) + "\n")
    return table


SECTIONS = ("clip", "diffusion")  # the CLIP section first: short, and a run cut off in SD's still has its rows


def earlier_rows(out: Path, device: str) -> dict[str, Row]:
    """The rows of an earlier run's JSON at ``out`` on the same device (none if there is no such run)."""
    path = out.with_suffix(".json")
    if not path.is_file():
        return {}
    table = json.loads(path.read_text())
    if table["meta"].get("device") != device:
        log.warning("%s was measured on %s, not %s: its rows are not kept", path, table["meta"].get("device"), device)
        return {}
    names = set(Row.__dataclass_fields__)
    return {r["key"]: Row(**{k: v for k, v in r.items() if k in names}) for r in table["rows"]}


def run(
    settings: Settings,
    workdir: Path,
    done: Callable[[list[Row]], None],
    only: tuple[str, ...] = SECTIONS,
    kept: dict[str, Row] | None = None,
) -> list[Row]:
    """The sections in ``only``, ``done(rows)`` after each (so a run stopped from outside leaves its table).

    A section that fails marks its unmeasured rows with its error. The other sections' rows are taken
    from ``kept`` (an earlier run's rows by key), or say that they were not run.
    """
    from benchmarks import gpu_sections

    clock = gpu_sections.Clock(settings)
    rows = plan_rows(settings)
    for name in SECTIONS:
        if name in only:
            continue
        for key in [key for key in rows if key.startswith(gpu_sections.ROWS[name])]:
            if kept and key in kept:
                rows[key] = kept[key]
            else:
                rows[key].error = "not run (--only)"
    for name in only:
        try:
            getattr(gpu_sections, name)(settings, clock, rows, workdir)
        except Exception as err:  # e.g. the model did not build or fit: its rows say so, the next section runs
            log.exception("section %s failed", name)
            for key, row in rows.items():
                if key.startswith(gpu_sections.ROWS[name]) and row.measured is None and row.error is None:
                    row.error = f"section failed: {type(err).__name__}: {err}".splitlines()[0][:300]
        gc.collect()  # the section's models, before the next one builds its own
        if clock.device.type == "cuda":
            torch.cuda.empty_cache()
        done(list(rows.values()))
    return list(rows.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the Markdown table; its rows also go to the same name .json")
    parser.add_argument("--smoke", action="store_true", help="tiny models on the CPU, seconds: checks the code only")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds of measuring, at most (default 240)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        help="run these sections; the others' rows are kept from the table at --out (same device) if there is one",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = smoke_settings() if args.smoke else full_settings(args.budget)
    if args.smoke:
        torch.set_num_threads(1)  # tiny models: threads only add contention on a shared CPU
    if settings.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA GPU is visible; run this on a GPU node, or --smoke to check the code on a CPU")
    start, out = time.perf_counter(), Path(args.out)
    env = environment(settings, args.smoke)
    only = tuple(s for s in SECTIONS if s in (args.only or SECTIONS))
    kept = earlier_rows(out, env["device"]) if args.only else None
    with tempfile.TemporaryDirectory(prefix="gpu_check.") as tmp:
        rows = run(settings, Path(tmp), lambda done: write_outputs(done, env, out, settings), only, kept)
    print(markdown(rows, env))
    minutes = (time.perf_counter() - start) / 60
    print(f"{minutes:.1f} min on {env['device']}; the rows also in {out.with_suffix('.json')}")
    if any(row.measured is None for row in rows):
        log.warning("some figures were not measured: see their error column")


if __name__ == "__main__":
    main()
