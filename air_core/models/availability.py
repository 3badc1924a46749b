"""Is a model on this machine? Answered from the local caches, without loading or downloading it.

The workflow asks before any job is queued, so a missing model stops a run at its start
with the place looked in and the command that fetches it.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import constants, try_to_load_from_cache

from air_core.config import ClipSpec, DiffusionSpec
from air_core.models.configs import tiny_sd_names

FETCH = "snakemake fetch_models --cores 1 --configfile <your config>"


def is_hub_id(name: str) -> bool:
    """Whether ``name`` can be a Hugging Face repository id ('org/name'); a path such as '/data/sd' cannot."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _cached(repo_id: str, filenames: list[str], revision: str | None = None) -> bool:
    return any(isinstance(try_to_load_from_cache(repo_id, f, revision=revision), str) for f in filenames)


def _hub_files(pretrained_cfg: dict) -> tuple[str, list[str]]:
    """The hub repository of an open_clip pretrained tag and the file names its weights may have there."""
    hub = pretrained_cfg.get("hf_hub", "")
    repo_id, filename = os.path.split(hub) if hub else ("", "")  # 'org/name/' or 'org/name/file'
    filename = filename or "open_clip_pytorch_model.bin"
    return repo_id, [filename, filename.replace("open_clip_pytorch_model.bin", "open_clip_model.safetensors")]


def cached_clip_file(spec: ClipSpec) -> str | None:
    """The hub-cache file of the weights of a CLIP pretrained tag; None for a path, random weights, a tag that
    is not in the hub cache (or only in the cache of OpenAI's own URLs)."""
    if spec.pretrained is None or Path(spec.pretrained).is_file():
        return None
    import open_clip

    arch = Path(spec.arch).stem if spec.arch.endswith(".json") else spec.arch
    repo_id, candidates = _hub_files(open_clip.get_pretrained_cfg(arch, spec.pretrained) or {})
    if not repo_id:
        return None
    found = (try_to_load_from_cache(repo_id, f) for f in candidates)
    return next((f for f in found if isinstance(f, str)), None)


def clip_problem(spec: ClipSpec) -> str | None:
    """None when the CLIP of ``spec`` can be loaded offline, else what is missing and the fix."""
    if spec.pretrained is None or Path(spec.pretrained).is_file():
        return None
    import open_clip  # only for a hub tag: keeps the workflow's start-up check light

    arch = Path(spec.arch).stem if spec.arch.endswith(".json") else spec.arch
    cfg = open_clip.get_pretrained_cfg(arch, spec.pretrained)
    if not cfg:
        return (
            f"CLIP weights '{spec.pretrained}' (models.clip.pretrained) are neither a file nor an open_clip tag "
            f"of {arch}; known tags: {open_clip.list_pretrained_tags_by_model(arch)}"
        )
    repo_id, candidates = _hub_files(cfg)
    if repo_id and _cached(repo_id, candidates):
        return None
    url_file = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(cfg.get("url", "") or "none")
    if url_file.is_file():
        return None
    return (
        f"CLIP {arch} with weights '{spec.pretrained}' is not on this machine: looked in the Hugging Face "
        f"cache {constants.HF_HUB_CACHE} for {repo_id or '(no hub copy)'} and in {url_file.parent}. "
        f"On a machine with network run: {FETCH}"
    )


def diffusion_problem(spec: DiffusionSpec) -> str | None:
    """None when the Stable Diffusion of ``spec`` can be loaded offline, else what is missing and the fix."""
    if spec.id in tiny_sd_names():
        return None
    local = Path(spec.id).expanduser()
    if local.is_dir():
        if (local / "model_index.json").is_file():
            return None
        return (
            f"Stable Diffusion directory {local} (models.diffusion.id) has no model_index.json; "
            "point it at a folder written by diffusers' save_pretrained"
        )
    if not is_hub_id(spec.id):
        return (
            f"Stable Diffusion folder {local} (models.diffusion.id) does not exist, and the name is no hub id "
            "either; fix the path, or give a hub id such as CompVis/stable-diffusion-v1-4"
        )
    if _cached(spec.id, ["model_index.json"], revision=spec.revision):
        return None
    return (
        f"Stable Diffusion '{spec.id}' (revision {spec.revision or 'main'}) is not in the Hugging Face cache "
        f"{constants.HF_HUB_CACHE}. On a machine with network run: {FETCH}"
    )
