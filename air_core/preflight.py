"""Before the first job: are the models that the planned jobs load on this machine, and whole?

Run by the Snakefile's ``onstart`` handler, after planning: a missing model stops the run with the
place looked in and the command that fetches it, a broken model file (truncated, of another
architecture, a component missing) with the file and what is wrong, and ``device: cuda`` on a machine
without CUDA with the key, before any job is queued.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from air_core.errors import ConfigError

if TYPE_CHECKING:
    from air_core.experiment import Experiment

# Which models each rule loads: the ones a run's jobs need must be on this machine.
RULES_USING_CLIP = {"encode_real", "zero_shot", "select", "train_prompts", "evaluate"}
RULES_USING_DIFFUSION = {"train_lora", "generate"}


def missing_models(exp: Experiment, rules: set[str]) -> list[str]:
    """Problems (model, place looked in, command to run) for the models that ``rules`` will load."""
    from air_core.models.availability import clip_problem, diffusion_problem

    problems = []
    # A model under results_dir is made by a rule of this run (the toy models): the DAG waits for it.
    if rules & RULES_USING_CLIP and not exp.made_by_workflow(exp.clip.pretrained):
        problems.append(clip_problem(exp.clip))
    if rules & RULES_USING_DIFFUSION and not exp.made_by_workflow(exp.diffusion.id):
        problems.append(diffusion_problem(exp.diffusion))
    return [p for p in problems if p]


def broken_model_files(exp: Experiment, rules: set[str]) -> list[str]:
    """Problems of the local model files that ``rules`` will load, read from their headers (models/files.py)."""
    from air_core.models import files
    from air_core.models.availability import cached_clip_file

    problems = []
    pretrained = exp.clip.pretrained
    if rules & RULES_USING_CLIP and pretrained and Path(pretrained).is_file() and not exp.made_by_workflow(pretrained):
        problems.append(files.clip_checkpoint_problem(exp.clip.arch, pretrained))
    elif rules & RULES_USING_CLIP and (cached := cached_clip_file(exp.clip)):
        problems.append(files.readable_problem(cached, f"CLIP weights '{pretrained}' (models.clip.pretrained)"))
    folder = diffusion_folder(exp)
    if rules & RULES_USING_DIFFUSION and folder is not None:
        problems.append(files.diffusion_folder_problem(folder))
    if "generate" in rules:
        for path in lora_files(exp, remade="train_lora" in rules):
            problems.append(files.lora_file_problem(path))
    return [p for p in problems if p]


def diffusion_folder(exp: Experiment) -> Path | None:
    """The folder of the config's Stable Diffusion on this machine (a local folder or the hub cache's snapshot),
    None for a built-in tiny one, one made by a rule of this run, or one not here (``missing_models`` says so)."""
    from huggingface_hub import try_to_load_from_cache

    from air_core.models.availability import is_hub_id
    from air_core.models.configs import tiny_sd_names

    spec = exp.diffusion
    if spec.id in tiny_sd_names() or exp.made_by_workflow(spec.id):
        return None
    if Path(spec.id).is_dir():
        return Path(spec.id) if (Path(spec.id) / "model_index.json").is_file() else None
    if not is_hub_id(spec.id):
        return None
    cached = try_to_load_from_cache(spec.id, "model_index.json", revision=spec.revision)
    return Path(cached).parent if isinstance(cached, str) else None


def lora_files(exp: Experiment, remade: bool) -> list[str]:
    """The LoRA weight files already on disk that generate jobs will read (all of them unless ``remade``: then
    train_lora writes them again first)."""
    if remade:
        return []
    return [
        path
        for d in exp.datasets
        for v in exp.variants_read(d)
        if exp.sd_variants[v].lora is not None
        and os.path.isfile(path := f"{exp.results_dir}/{d}/lora/{v}/pytorch_lora_weights.safetensors")
    ]


def device_problem(exp: Experiment, local: bool) -> str | None:
    """``device: cuda`` where the jobs run on this machine and it has no CUDA (a cluster's jobs run elsewhere)."""
    if exp.device != "cuda" or not local:
        return None
    import torch

    if torch.cuda.is_available():
        return None
    return (
        "device = 'cuda' (config key 'device'), but this machine has no CUDA device that torch can use; run on a "
        "GPU machine, or set device: auto (CUDA when there is one, else the CPU) or device: cpu"
    )


def stop_if_models_missing(exp: Experiment, dag: Any, local: bool = True) -> None:
    """The workflow's onstart check: raise before any job is queued if a needed model is missing or broken, or
    the device is not here (``local``: the jobs run on this machine)."""
    rules = {job.rule.name for job in dag.needrun_jobs()}
    problems = missing_models(exp, rules)
    if problems:
        raise ConfigError("a model this run needs is missing:\n  - " + "\n  - ".join(problems))
    problems = broken_model_files(exp, rules)
    device = device_problem(exp, local)
    problems += [device] if device else []
    if problems:
        raise ConfigError("a model file or the device of this run cannot be used:\n  - " + "\n  - ".join(problems))
