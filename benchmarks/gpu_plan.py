"""The GPU plan: FLOPs per stage of the paper grid and the time they predict on one H200-class GPU.

SD v1-4 figures are PROTOCOL.md's; CLIP ViT-B/32's are counted here (2 FLOPs per multiply-add).
Training costs three forward passes (forward + backward). The prediction assumes a sustained
fraction ``mfu`` of the GPU's bf16 dense peak; small prompt-training batches run well below it.
A text-prompt step runs the text tower over the tokens of its text path (``text_tokens``); a run's
jobs also hold their GPU while they start (``startup_hours``), which FLOPs do not count.
"""

from __future__ import annotations

import math
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


def run_tflop(recipe, prompt: str, paradigm: str, classes: int, pool: int, step_tokens: float | None = None) -> float:
    """One prompt-training run's FLOPs from its resolved recipe (epochs, rounds, batch size, prompt length).

    ``step_tokens``: token positions of one text-tower pass (``text_tokens``); None counts 22 per class.
    """
    per_round = trained_images(recipe, paradigm, classes, pool)
    if prompt == "text":  # cached image features; the text tower over every class prompt each step
        per_step = 3 * TEXT_FLOP_PER_TOKEN * (classes * 22 if step_tokens is None else step_tokens) / 1e12
        return sum(recipe.epochs * math.ceil(n / recipe.batch_size) for n in per_round if n) * per_step
    per_image = 3 * VIT_B32_GFLOP * (50 + recipe.n_ctx) / 50 / 1000  # the image tower with prompt tokens
    return sum(recipe.epochs * n for n in per_round) * per_image


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


def grid_gpu_hours(mfu: float = 0.4, config_path: Path = ROOT / "config" / "config.yaml") -> dict[str, float]:
    """GPU hours of config/config.yaml's whole grid on one H200, every run costed from its own resolved recipe.

    Diffusion once per dataset; prompt training per (dataset, paradigm, prompt, method, seed), text
    prompts by text path (cut: the path before the shared prefix; shared_prefix: today's). The
    synthetic loss's extra images and the small batches' low utilisation are not counted: an estimate
    of the order, not a bound.
    """
    from air_core.config_checks import load_yaml
    from air_core.experiment import load_experiment

    exp = load_experiment(load_yaml(config_path), check_data=False)  # the data lies on the cluster
    to_hours = 1 / (H200_BF16_TFLOPS * mfu) / 3600
    diffusion = 0.0
    tflop = {"text_cut": 0.0, "text_shared_prefix": 0.0, "visual": 0.0}
    for name, (classes, pool, _) in DATASETS.items():
        diffusion += pool * VIT_B32_GFLOP / 1000  # encode_real
        for variant in map(exp.sd_variants.get, exp.variants_read(name)):  # each variant once per dataset
            lora = variant.lora
            stages = diffusion_tflop(
                classes,
                pool,
                variant.generate.images_per_class,
                variant.generate.steps,
                lora.steps if lora else 0,
                lora.batch_size if lora else 0,
            )
            diffusion += stages["train_lora"] + stages["generate"] + stages["select"]
        for paradigm, prompt, method in exp.grid(name):
            recipe = exp.recipe(method, name, paradigm, prompt)
            seeds = len(exp.seeds)
            if prompt == "visual":
                tflop["visual"] += run_tflop(recipe, prompt, paradigm, classes, pool) * seeds
                continue
            for path in ("cut", "shared_prefix"):
                tokens = text_tokens(name, recipe.n_ctx, path)
                tflop[f"text_{path}"] += run_tflop(recipe, prompt, paradigm, classes, pool, tokens) * seeds
    hours = {f"{key}_hours": round(value * to_hours, 1) for key, value in tflop.items()}
    return {
        "diffusion_hours": round(diffusion * to_hours, 1),
        "prompt_runs": len(exp.runs()),
        "prompt_hours": round((tflop["text_shared_prefix"] + tflop["visual"]) * to_hours, 1),
        "prompt_hours_cut": round((tflop["text_cut"] + tflop["visual"]) * to_hours, 1),
        **hours,
    }
