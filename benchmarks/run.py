"""`make bench`: every performance figure of docs/performance.md, measured in one run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from air_core.config import ClipSpec
from air_core.encode import encode_class_prompts
from air_core.models.clip import load_clip
from benchmarks import generation, gpu_plan, prompt_training, workflow_numbers

ROOT = Path(__file__).resolve().parents[1]


def section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--encode-images", type=int, default=10_000, help="images for the memory benchmark")
    parser.add_argument("--demo-results", default=str(ROOT / "results_demo"), help="a finished demo's results_dir")
    args = parser.parse_args()
    torch.set_num_threads(2)
    names = [f"class {i}" for i in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = prompt_training.write_images(tmp / "images", 64)
        vit_b32 = load_clip(ClipSpec(arch="ViT-B-32", pretrained=None))
        section("a. text-prompt training step, ViT-B/32 size, 10 classes, batch 32 (s/step)")
        text = prompt_training.time_text_steps(vit_b32, names, paths)
        print(f"reference {text['reference']:.3f} | built {text['built']:.3f} | "
              f"ratio {text['reference'] / text['built']:.1f}x")
        section("b. visual-prompt epoch, 64 images, batch 32 (s/epoch)")
        for label, spec in (("ViT-B/32 size", ClipSpec(arch="ViT-B-32", pretrained=None)),
                            ("air-tiny-vit", ClipSpec(arch="air-tiny-vit", pretrained=None))):
            clip = load_clip(spec)
            visual = prompt_training.time_visual_epochs(clip, torch.from_numpy(encode_class_prompts(clip, names)), paths)
            print(f"{label}: reference {visual['reference']:.2f} | built {visual['built']:.2f} | "
                  f"ratio {visual['reference'] / visual['built']:.2f}x | one-off cache {visual['cache']:.2f} s")
        section("c. generation throughput, tiny SD, 32 images, 10 steps (images/s)")
        gen = generation.images_per_second(tmp / "gen")
        print(f"one per call {gen['one_per_call']:.2f} | batched {gen['batched']:.2f} | "
              f"ratio {gen['batched'] / gen['one_per_call']:.1f}x")
        section("d. diffusion sharing, config/config.yaml's grid on two datasets (snakemake -n)")
        print(json.dumps(workflow_numbers.paper_grid_sharing(tmp / "dry")))
    section("e. demo stages from the rules' benchmark files")
    costs = workflow_numbers.stage_costs(Path(args.demo_results))
    print(costs.to_markdown(index=False) if len(costs) else f"no benchmark files under {args.demo_results}: "
          "run `make demo` first")
    section("2. memory: encoding images with a ViT-B/32-size CLIP, streamed in batches of 256")
    for n in sorted({min(500, args.encode_images), args.encode_images}):  # flat peak RSS = streaming
        proc = subprocess.run([sys.executable, "-m", "benchmarks.encode_memory", "--n", str(n)],
                              cwd=ROOT, capture_output=True, text=True)
        print(proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else proc.stderr[-2000:])
    section("3. GPU plan: paper grid, predicted minutes on one H200 at 40% of bf16 peak")
    print(gpu_plan.plan().to_markdown(index=False))


if __name__ == "__main__":
    main()
