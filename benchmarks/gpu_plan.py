"""The GPU plan: FLOPs per stage of the paper grid and the time they predict on one H200-class GPU.

SD v1-4 figures are PROTOCOL.md's; CLIP ViT-B/32's are counted here (2 FLOPs per multiply-add).
Training costs three forward passes (forward + backward). The prediction assumes a sustained
fraction ``mfu`` of the GPU's bf16 dense peak; small prompt-training batches run well below it.
A text-prompt step runs the text tower over the tokens of its text path (``text_tokens``); a run's
jobs also hold their GPU while they start (``startup_hours``), which FLOPs do not count.

``benchmarks/gpu_check.py`` measures one unit of each kind of work (``figure_tflop``) on a GPU;
``python -m benchmarks.gpu_plan --measured table.json`` prices the grid at those measured rates
instead of the assumed fraction of peak.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

H200_BF16_TFLOPS = 790.0  # dense bf16 matrix throughput of the lent H200 (device notes)
UNET_TFLOP = 0.8  # one UNet evaluation at 512x512
STEP_CFG_TFLOP = 1.6  # one denoising step with classifier-free guidance
VAE_DECODE_TFLOP = 2.5
VAE_ENCODE_TFLOP = 1.25  # the encoder is about half the decoder
VIT_B32_GFLOP = 4.4  # one 224x224 image through CLIP ViT-B/32's image tower
# CLIP ViT-B/32's text transformer: 12 layers of width 512, each 12 W^2 multiply-adds per token (q/k/v and
# output projections, 4x MLP). Its 25M-parameter token embedding is a lookup, no FLOPs; attention's
# own L x L products add under 2 % at these lengths (L <= 77) and are left out.
TEXT_FLOP_PER_TOKEN = 2 * 12 * 12 * 512**2

# Paper datasets: classes and train-pool size (train + val of the ELEVATER splits), test size.
DATASETS = {
    "flowers102": (102, 2040, 6149),
    "dtd": (47, 3760, 1880),
    "fgvc_aircraft": (100, 6667, 3333),
    "eurosat": (10, 10000, 5000),
    "resisc45": (45, 6300, 25200),
}


def diffusion_tflop(
    classes: int, pool: int, m: int = 120, steps: int = 25, lora_steps: int = 500, lora_batch: int = 4
) -> dict[str, float]:
    lora = lora_steps * lora_batch * (3 * UNET_TFLOP + VAE_ENCODE_TFLOP)
    generate = classes * m * (steps * STEP_CFG_TFLOP + VAE_DECODE_TFLOP)
    select = classes * m * VIT_B32_GFLOP / 1000
    return {"encode_real": pool * VIT_B32_GFLOP / 1000, "train_lora": lora, "generate": generate, "select": select}


@cache
def class_names(dataset: str) -> tuple[str, ...]:
    path = ROOT / "config" / "class_names" / f"{dataset}.txt"
    return tuple(n.strip() for n in path.read_text().splitlines() if n.strip())


@cache
def text_tokens(dataset: str, n_ctx: int = 16, path: str = "shared_prefix") -> int:
    """Token positions one text-tower pass runs over all class prompts, by text path (air_core.text_prompts).

    full: 77 per class; cut: every class to the longest prompt's end token; shared_prefix: [SOT] and
    the context once, then each class's name tokens and end token.
    """
    import open_clip

    tokens = open_clip.get_tokenizer("ViT-B-32")([" ".join(["X"] * n_ctx) + f" {n}" for n in class_names(dataset)])
    eot = tokens.argmax(dim=-1)  # the end token has the largest id
    if path == "full":
        return int(tokens.numel())
    if path == "cut":
        return len(eot) * (int(eot.max()) + 1)
    return 1 + n_ctx + int((eot - n_ctx).sum())


def plan(mfu: float = 0.4) -> pd.DataFrame:
    """Per dataset and stage: TFLOP and predicted minutes on one H200 (prompt training: per run)."""
    from air_core.recipes import resolve_recipe

    grip = resolve_recipe("grip", {"base": "grip"})  # the protocol's GRIP: 10 rounds of 150 epochs, batch 16
    rows = []
    for name, (classes, pool, _) in DATASETS.items():
        stages = diffusion_tflop(classes, pool)
        stages["generate"] *= 2  # LoRA-tuned and plain SD (table 3)
        for path in ("cut", "shared_prefix"):
            stages[f"train_prompts (text, {path}, per GRIP run)"] = run_tflop(
                grip, "text", "ul", classes, pool, text_tokens(name, grip.n_ctx, path)
            )
        stages["train_prompts (visual, per GRIP run)"] = run_tflop(grip, "visual", "ul", classes, pool)
        for stage, tflop in stages.items():
            rows.append(
                {
                    "dataset": name,
                    "stage": stage,
                    "tflop": round(tflop, 1),
                    "minutes_h200": round(tflop / (H200_BF16_TFLOPS * mfu) / 60, 2),
                }
            )
    return pd.DataFrame(rows)


def trained_images(recipe, paradigm: str, classes: int, pool: int) -> list[float]:
    """Images a run trains on in each of its rounds (pseudo-labelled plus labelled).

    GRIP and CPL grow their per-class pools as K_t = (t+1)/rounds of the pool per class
    (``air_core.pseudo_labels.grip_k``); FPL trains once on its top-K per class; a run without
    pseudo-labels (zero-shot, CoOp/VPT) trains on the labelled images only: none in UL, 2 per class
    in SSL, the seen classes' pool (62 % of the classes) in TRZSL.
    """
    labeled = {"ul": 0.0, "ssl": 2.0 * classes, "trzsl": 0.62 * pool}[paradigm]
    unlabeled = pool - labeled
    rounds = recipe.iterations
    if recipe.pseudo_labels == "none":
        return [labeled]
    if recipe.pseudo_labels == "fpl":
        return [labeled + min(unlabeled, recipe.top_k * classes)] * rounds
    return [labeled + min(unlabeled, (t + 1) * unlabeled / rounds) for t in range(rounds)]


def text_step_tflop(step_tokens: float) -> float:
    """One text-prompt step: the text tower forward and backward over ``step_tokens`` positions."""
    return 3 * TEXT_FLOP_PER_TOKEN * step_tokens / 1e12


def vpt_image_tflop(n_ctx: int) -> float:
    """One image through the image tower with ``n_ctx`` prompt tokens, forward and backward."""
    return 3 * VIT_B32_GFLOP * (50 + n_ctx) / 50 / 1000


def text_steps(recipe, paradigm: str, classes: int, pool: int) -> int:
    """Training steps of one text-prompt run: every round's epochs over its images in batches."""
    per_round = trained_images(recipe, paradigm, classes, pool)
    return sum(recipe.epochs * math.ceil(n / recipe.batch_size) for n in per_round if n)


def run_tflop(recipe, prompt: str, paradigm: str, classes: int, pool: int, step_tokens: float | None = None) -> float:
    """One prompt-training run's FLOPs from its resolved recipe (epochs, rounds, batch size, prompt length).

    ``step_tokens``: token positions of one text-tower pass (``text_tokens``); None counts 22 per class.
    """
    if prompt == "text":  # cached image features; the text tower over every class prompt each step
        tokens = classes * 22 if step_tokens is None else step_tokens
        return text_steps(recipe, paradigm, classes, pool) * text_step_tflop(tokens)
    per_round = trained_images(recipe, paradigm, classes, pool)
    return sum(recipe.epochs * n for n in per_round) * vpt_image_tflop(recipe.n_ctx)


def figure_tflop(
    steps: int = 25, lora_batch: int = 4, n_ctx: int = 16, vpt_batch: int = 16, dataset: str = "flowers102"
) -> dict[str, float]:
    """TFLOP of one unit of each figure benchmarks/gpu_check.py measures (an image, or a training step).

    generate: one 512x512 image, ``steps`` guided steps and the VAE decode; train_lora: one LoRA step
    of ``lora_batch`` images; encode: one image through ViT-B/32; text_*: one text-prompt step over
    ``dataset``'s class prompts by text path; visual: one VPT step of ``vpt_batch`` images.
    """
    return {
        "generate": steps * STEP_CFG_TFLOP + VAE_DECODE_TFLOP,
        "train_lora": lora_batch * (3 * UNET_TFLOP + VAE_ENCODE_TFLOP),
        "encode": VIT_B32_GFLOP / 1000,
        "text_cut": text_step_tflop(text_tokens(dataset, n_ctx, "cut")),
        "text_shared_prefix": text_step_tflop(text_tokens(dataset, n_ctx, "shared_prefix")),
        "visual": vpt_batch * vpt_image_tflop(n_ctx),
    }


def predicted_per_second(tflop_per_unit: float, mfu: float = 0.4) -> float:
    """Units (images or steps) per second the plan predicts on one H200 at ``mfu`` of its bf16 peak."""
    return H200_BF16_TFLOPS * mfu / tflop_per_unit


@dataclass(frozen=True)
class Throughput:
    """Measured rates the grid is priced at: TFLOP/s per kind of work, and text-prompt steps' seconds.

    A kind missing here (not measured, or its measurement failed) is priced at the assumed ``mfu``.
    """

    tflops: dict[str, float] = field(default_factory=dict)  # generate, train_lora, encode, visual
    text_steps: dict[float, float] = field(default_factory=dict)  # token positions of a step -> its seconds
    measured_on: str = ""  # the table's device, and its mode when not a full run

    def text_step_seconds(self, tokens: float) -> float | None:
        """Seconds of a text-prompt step over ``tokens`` positions; None where no step was measured.

        Two measured steps (the cut path and the shared prefix, at different token counts) fix a line:
        a fixed cost per step (kernel launches, which dominate at this size) plus a cost per token;
        one measured step scales with the tokens, as FLOPs do.
        """
        if not self.text_steps:
            return None
        (t_lo, s_lo), (t_hi, s_hi) = min(self.text_steps.items()), max(self.text_steps.items())
        if t_hi == t_lo:
            return s_hi * tokens / t_hi
        per_token = max((s_hi - s_lo) / (t_hi - t_lo), 0.0)  # timing noise must not make tokens free
        fixed = max(s_lo - per_token * t_lo, 0.0)
        return fixed + per_token * tokens


def measured_throughput(path: str | Path) -> Throughput:
    """The rates of a ``gpu_check`` table (its JSON): each row with a ``plan`` kind and a measured rate."""
    try:
        table = json.loads(Path(path).read_text())
        rows, meta = table["rows"], table.get("meta", {})
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"cannot read the measured table {path} ({err}); give the .json that "
            "`python -m benchmarks.gpu_check --out table.md` writes beside table.md"
        ) from None
    tflops, text = {}, {}
    for row in rows:
        kind, rate = row.get("plan"), row.get("measured")
        if not kind or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            continue  # not a plan figure, or its section failed: that kind stays at the assumed rate
        if kind.startswith("text_"):  # the step's token positions, from the FLOPs gpu_check counted for it
            text[row["tflop_per_unit"] / text_step_tflop(1)] = 1 / rate
        else:
            tflops[kind] = rate * row["tflop_per_unit"]
    mode = meta.get("mode", "full")
    return Throughput(tflops, text, f"{meta.get('device', '?')}" + ("" if mode == "full" else f", {mode}"))


def startup_hours(runs: int, runs_per_pack: int, per_submission_s: float, per_job_s: float) -> dict[str, float]:
    """GPU hours the prompt runs' jobs hold their GPU before working: one job per submission against packs.

    Every run is two jobs (train_prompts, evaluate), each paying ``per_job_s`` (its own Snakemake,
    interpreter, imports, model load) whether packed or not; every submission pays ``per_submission_s``
    (the Snakemake that starts inside it). Queue waiting holds no GPU and is not counted.
    """
    jobs = 2 * runs
    return {
        "one_job_per_submission": round(jobs * (per_submission_s + per_job_s) / 3600, 2),
        "packed": round((math.ceil(runs / runs_per_pack) * per_submission_s + jobs * per_job_s) / 3600, 2),
    }


def dataset_diffusion_tflop(exp, name: str) -> dict[str, float]:
    """A dataset's diffusion stages by kind of work: encode (encode_real, select), train_lora, generate;
    each SD variant the grid reads once."""
    classes, pool, _ = DATASETS[name]
    work = {"encode": pool * VIT_B32_GFLOP / 1000, "train_lora": 0.0, "generate": 0.0}  # encode_real
    for variant in map(exp.sd_variants.get, exp.variants_read(name)):
        lora = variant.lora
        stages = diffusion_tflop(
            classes,
            pool,
            variant.generate.images_per_class,
            variant.generate.steps,
            lora.steps if lora else 0,
            lora.batch_size if lora else 0,
        )
        work["encode"] += stages["select"]
        work["train_lora"] += stages["train_lora"]
        work["generate"] += stages["generate"]
    return work


def grid_gpu_hours(
    mfu: float = 0.4, config_path: Path = ROOT / "config" / "config.yaml", measured: Throughput | None = None
) -> dict[str, float]:
    """GPU hours of config/config.yaml's whole grid on one H200, every run costed from its own resolved recipe.

    Diffusion once per dataset; prompt training per (dataset, paradigm, prompt, method, seed), text
    prompts by text path (cut: the path before the shared prefix; shared_prefix: today's). Work is
    priced at ``mfu`` of the bf16 peak, or at the rates of ``measured`` where it has them. The
    synthetic loss's extra images and the small batches' low utilisation are not counted: an estimate
    of the order, not a bound.
    """
    from air_core.config_checks import load_yaml
    from air_core.experiment import load_experiment

    exp = load_experiment(load_yaml(config_path), check_data=False)  # the data lies on the cluster
    measured = measured or Throughput()
    assumed = H200_BF16_TFLOPS * mfu

    def hours(tflop: float, kind: str) -> float:
        return tflop / measured.tflops.get(kind, assumed) / 3600

    diffusion = 0.0
    prompt = {"text_cut": 0.0, "text_shared_prefix": 0.0, "visual": 0.0}
    for name, (classes, pool, _) in DATASETS.items():
        diffusion += sum(hours(tflop, kind) for kind, tflop in dataset_diffusion_tflop(exp, name).items())
        for paradigm, kind, method in exp.grid(name):
            recipe = exp.recipe(method, name, paradigm, kind)
            seeds = len(exp.seeds)
            if kind == "visual":
                prompt["visual"] += hours(run_tflop(recipe, kind, paradigm, classes, pool), "visual") * seeds
                continue
            for path in ("cut", "shared_prefix"):
                tokens = text_tokens(name, recipe.n_ctx, path)
                if (step_s := measured.text_step_seconds(tokens)) is not None:
                    run_hours = text_steps(recipe, paradigm, classes, pool) * step_s / 3600
                else:
                    run_hours = hours(run_tflop(recipe, kind, paradigm, classes, pool, tokens), "text")
                prompt[f"text_{path}"] += run_hours * seeds
    return {
        "diffusion_hours": round(diffusion, 1),
        "prompt_runs": len(exp.runs()),
        "prompt_hours": round(prompt["text_shared_prefix"] + prompt["visual"], 1),
        "prompt_hours_cut": round(prompt["text_cut"] + prompt["visual"], 1),
        **{f"{key}_hours": round(value, 1) for key, value in prompt.items()},
    }


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.gpu_plan [--measured table.json]`: the grid's H200 hours, assumed and measured."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--mfu", type=float, default=0.4, help="assumed fraction of the bf16 peak (default 0.4)")
    parser.add_argument("--measured", help="the JSON that benchmarks.gpu_check writes beside its table")
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"), help="the grid's config")
    args = parser.parse_args(argv)
    columns = {f"assumed ({args.mfu:.0%} of {H200_BF16_TFLOPS:.0f} TFLOP/s)": None}
    if args.measured:
        try:
            rates = measured_throughput(args.measured)
            columns[f"measured ({rates.measured_on})"] = rates
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
    hours = {name: grid_gpu_hours(args.mfu, Path(args.config), rates) for name, rates in columns.items()}
    print(pd.DataFrame(hours).to_markdown())
    for name, rates in columns.items():
        if rates is not None:
            kinds = {k: f"{v:.1f} TFLOP/s" for k, v in rates.tflops.items()}
            kinds |= {f"text step over {t:.0f} tokens": f"{s * 1000:.2f} ms" for t, s in rates.text_steps.items()}
            print(f"\n{name}: {json.dumps(kinds)}; every other kind at the assumed rate")


if __name__ == "__main__":
    main()
