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


def text_prompt_tflop(classes: int, pool: int, epochs: int = 150, rounds: int = 10, batch: int = 16,
                      tokens: int = 22) -> float:
    """GRIP-style rounds: round t trains on (t+1)/rounds of the pool; one text pass per step."""
    per_step = 3 * 2 * TEXT_PARAMS * classes * tokens / 1e12
    steps = sum(epochs * math.ceil(min(pool, (t + 1) * pool / rounds) / batch) for t in range(rounds))
    return steps * per_step


def visual_prompt_tflop(pool: int, epochs: int = 150, rounds: int = 10, n_prompt: int = 16) -> float:
    images = sum(epochs * min(pool, (t + 1) * pool / rounds) for t in range(rounds))
    return images * 3 * VIT_B32_GFLOP * (50 + n_prompt) / 50 / 1000


def plan(mfu: float = 0.4) -> pd.DataFrame:
    """Per dataset and stage: TFLOP and predicted minutes on one H200 (prompt training: per run)."""
    rows = []
    for name, (classes, pool, _) in DATASETS.items():
        stages = diffusion_tflop(classes, pool)
        stages["generate"] *= 2  # LoRA-tuned and plain SD (table 3)
        stages["train_prompts (text, per run)"] = text_prompt_tflop(classes, pool)
        stages["train_prompts (visual, per run)"] = visual_prompt_tflop(pool)
        for stage, tflop in stages.items():
            rows.append({"dataset": name, "stage": stage, "tflop": round(tflop, 1),
                         "minutes_h200": round(tflop / (H200_BF16_TFLOPS * mfu) / 60, 2)})
    return pd.DataFrame(rows)


def grid_gpu_hours(plan_frame: pd.DataFrame, config_path: Path = ROOT / "config" / "config.yaml") -> dict[str, float]:
    """GPU hours of config/config.yaml's whole grid on one H200: diffusion once per dataset, prompts per run.

    Every prompt run is costed as a GRIP run (10 rounds of 150 epochs), which overcounts (zero-shot
    runs train nothing, FPL and CPL train fewer epochs), at the plan's utilisation, which small
    prompt batches do not reach: the prompt figure is an estimate of the order, not a bound.
    """
    from air_core.recipes import grid_cells

    config = yaml.safe_load(config_path.read_text())
    cells = grid_cells(config)
    per_run = plan_frame["stage"].str.startswith("train_prompts")
    diffusion_hours = plan_frame.loc[~per_run, "minutes_h200"].sum() / 60
    prompt_minutes = sum(plan_frame.loc[plan_frame["stage"] == f"train_prompts ({prompt}, per run)",
                                        "minutes_h200"].sum() for _, prompt, _ in cells)  # summed over datasets
    runs = len(cells) * len(config["seeds"]) * len(DATASETS)
    return {"diffusion_hours": round(float(diffusion_hours), 1), "prompt_runs": runs,
            "prompt_hours": round(float(prompt_minutes * len(config["seeds"]) / 60), 1)}
