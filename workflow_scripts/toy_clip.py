"""Rule toy_clip: pretrain the toy CLIP on the source world; save it in open_clip's format."""

import argparse
import logging

from air_core.artifacts import write_json, write_table
from air_core.config import ClipSpec
from air_core.jobs import run_script, set_threads
from air_core.models.clip import load_clip
from air_core.toy.clip_pretrain import (
    ToyClipConfig,
    build_clip,
    pretrain_clip,
    save_clip,
    write_model_config,
    zero_shot_accuracy,
)
from air_core.toy.settings import from_settings
from air_core.toy.world import load_image_folder

log = logging.getLogger("toy_clip")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("--clip", "--source", "--model-config", "--checkpoint", "--history", "--summary"):
        parser.add_argument(name, required=True)
    parser.add_argument("--threads", type=int, required=True, help="torch threads: fixed, for reproducible weights")
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = from_settings(ToyClipConfig, args.clip)
    images, labels, names = load_image_folder(args.source, "train")
    write_model_config(cfg, images.shape[1], args.model_config)
    model, tokenizer = build_clip(args.model_config, cfg.seed)
    history = pretrain_clip(model, tokenizer, images, labels, names, cfg)
    save_clip(model, args.checkpoint)
    # Reload through the workflow's own loader, as every later rule will.
    clip = load_clip(ClipSpec(arch=args.model_config, pretrained=args.checkpoint))
    held_out, held_labels, _ = load_image_folder(args.source, "test")
    accuracy = zero_shot_accuracy(clip.model, clip.tokenizer, held_out, held_labels, names)
    log.info("toy CLIP: zero-shot top-1 on %d held-out source images: %.1f%%", len(held_labels), accuracy)
    write_table(
        "toy_clip_history", {k: [h[k] for h in history] for k in ("step", "lr", "loss", "logit_scale")}, args.history
    )
    write_json(
        {
            "source_heldout_top1": accuracy,
            "n_heldout": len(held_labels),
            "classes": len(names),
            "logit_scale": clip.logit_scale,
            "steps": cfg.steps,
            "batch_size": cfg.batch_size,
            "threads": args.threads,
        },
        args.summary,
    )


if __name__ == "__main__":
    run_script(main)
