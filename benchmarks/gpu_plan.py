"""The GPU plan: FLOPs per stage of the paper grid and the time they predict on one H200-class GPU.

SD v1-4 figures are PROTOCOL.md's; CLIP ViT-B/32's are counted here (2 FLOPs per multiply-add).
Training costs three forward passes (forward + backward). The prediction assumes a sustained
fraction ``mfu`` of the GPU's bf16 dense peak; small prompt-training batches run well below it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]

H200_BF16_TFLOPS = 790.0  # dense bf16 matrix throughput of the lent H200 (device notes)
UNET_TFLOP = 0.8  # one UNet evaluation at 512x512
STEP_CFG_TFLOP = 1.6  # one denoising step with classifier-free guidance
VAE_DECODE_TFLOP = 2.5
VAE_ENCODE_TFLOP = 1.25  # the encoder is about half the decoder
VIT_B32_GFLOP = 4.4  # one 224x224 image through CLIP ViT-B/32's image tower
TEXT_PARAMS = 63e6  # CLIP ViT-B/32's text tower

# Paper datasets: classes and train-pool size (train + val of the ELEVATER splits), test size.
DATASETS = {"flowers102": (102, 2040, 6149), "dtd": (47, 3760, 1880), "fgvc_aircraft": (100, 6667, 3333),
            "eurosat": (10, 10000, 5000), "resisc45": (45, 6300, 25200)}


def diffusion_tflop(classes: int, pool: int, m: int = 120, steps: int = 25, lora_steps: int = 500,
                    lora_batch: int = 4) -> dict[str, float]:
    lora = lora_steps * lora_batch * (3 * UNET_TFLOP + VAE_ENCODE_TFLOP)
    generate = classes * m * (steps * STEP_CFG_TFLOP + VAE_DECODE_TFLOP)
    select = classes * m * VIT_B32_GFLOP / 1000
    return {"encode_real": pool * VIT_B32_GFLOP / 1000, "train_lora": lora, "generate": generate, "select": select}


def plan(mfu: float = 0.4) -> pd.DataFrame:
    """Per dataset and stage: TFLOP and predicted minutes on one H200 (prompt training: per run)."""
    from air_core.recipes import resolve_recipe

    grip = resolve_recipe("grip", {"base": "grip"})  # the protocol's GRIP: 10 rounds of 150 epochs, batch 16
    rows = []
    for name, (classes, pool, _) in DATASETS.items():
        stages = diffusion_tflop(classes, pool)
        stages["generate"] *= 2  # LoRA-tuned and plain SD (table 3)
        for prompt in ("text", "visual"):
            stages[f"train_prompts ({prompt}, per GRIP run)"] = run_tflop(grip, prompt, "ul", classes, pool)
        for stage, tflop in stages.items():
            rows.append({"dataset": name, "stage": stage, "tflop": round(tflop, 1),
                         "minutes_h200": round(tflop / (H200_BF16_TFLOPS * mfu) / 60, 2)})
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


def run_tflop(recipe, prompt: str, paradigm: str, classes: int, pool: int, tokens: int = 22) -> float:
    """One prompt-training run's FLOPs from its resolved recipe (epochs, rounds, batch size, prompt length)."""
    per_round = trained_images(recipe, paradigm, classes, pool)
    if prompt == "text":  # cached image features; the text tower over every class prompt each step
        per_step = 3 * 2 * TEXT_PARAMS * classes * tokens / 1e12
        return sum(recipe.epochs * math.ceil(n / recipe.batch_size) for n in per_round if n) * per_step
    per_image = 3 * VIT_B32_GFLOP * (50 + recipe.n_ctx) / 50 / 1000  # the image tower with prompt tokens
    return sum(recipe.epochs * n for n in per_round) * per_image


def grid_gpu_hours(mfu: float = 0.4, config_path: Path = ROOT / "config" / "config.yaml") -> dict[str, float]:
    """GPU hours of config/config.yaml's whole grid on one H200, every run costed from its own resolved recipe.

    Diffusion once per dataset; prompt training per (dataset, paradigm, prompt, method, seed). The
    synthetic loss's extra images and the small batches' low utilisation are not counted: an
    estimate of the order, not a bound.
    """
    from air_core.recipes import grid_cells, resolve_recipe

    config = yaml.safe_load(config_path.read_text())
    cells = grid_cells(config)
    to_hours = 1 / (H200_BF16_TFLOPS * mfu) / 3600
    diffusion = prompts = 0.0
    for classes, pool, _ in DATASETS.values():
        stages = diffusion_tflop(classes, pool)
        diffusion += sum(stages.values()) + stages["generate"]  # both SD variants generate
        for paradigm, prompt, method in cells:
            recipe = resolve_recipe(method, config["methods"][method], prompt, paradigm)
            prompts += run_tflop(recipe, prompt, paradigm, classes, pool) * len(config["seeds"])
    return {"diffusion_hours": round(diffusion * to_hours, 1), "prompt_runs": len(cells) * len(config["seeds"]) * len(DATASETS),
            "prompt_hours": round(prompts * to_hours, 1)}
