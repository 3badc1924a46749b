"""Checks of a validated config that a JSON schema cannot express, run before any job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The config asks for something that cannot run. The message names the key and the fix."""


def made_by_workflow(path: str | None, results_dir: str) -> bool:
    """True for a path under ``results_dir``: a rule makes it (the toy world's dataset and models), so it
    need not exist before the run; the DAG checks that some rule produces it."""
    if not path:
        return False
    return Path(os.path.normpath(path)).is_relative_to(Path(os.path.normpath(results_dir)))


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError for settings that are valid JSON but cannot work together."""
    results_dir = config.get("results_dir", "results")
    for name, ds in config["datasets"].items():
        if ds["layout"] == "imagefolder":
            if not ds.get("root"):
                raise ConfigError(f"datasets.{name}.root is not set; the imagefolder layout needs the dataset folder")
            if made_by_workflow(ds["root"], results_dir):
                continue  # drawn by a rule of this workflow (the toy world)
            if not Path(ds["root"]).is_dir():
                raise ConfigError(f"datasets.{name}.root = '{ds['root']}' is not a folder; fix the path or "
                                  "remove the dataset from 'datasets'")
            if ds.get("class_names") and not Path(ds["class_names"]).is_file():
                raise ConfigError(f"datasets.{name}.class_names = '{ds['class_names']}' is not a file")
    generated = config["generate"]["images_per_class"]
    for name, recipe in config["methods"].items():
        for key in ("paradigms", "prompts"):
            if recipe.get(key) and not set(recipe[key]) & set(config[key]):
                raise ConfigError(f"methods.{name}.{key} = {recipe[key]} shares nothing with the grid's '{key}' "
                                  f"{config[key]}, so the method would never run; add one of them to '{key}' "
                                  f"or remove methods.{name}.{key}")
        m = recipe.get("n_synthetic")
        if m is not None and m > generated:
            raise ConfigError(f"methods.{name}.n_synthetic = {m} is more than generate.images_per_class = "
                              f"{generated}; raise generate.images_per_class or lower n_synthetic")


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _description(schema: dict[str, Any], schema_path) -> str:
    """The description of the sub-schema at ``schema_path``, else of the nearest enclosing one (a list item or
    a name pattern has none of its own: 'seeds.0' is described by 'seeds')."""
    path = list(schema_path)
    while path:
        node = schema
        for part in path:
            node = node[part]
        if isinstance(node, dict) and node.get("description"):
            return node["description"]
        path.pop()
    return ""


def _accepts(sub: dict[str, Any], description: str) -> str:
    return f"one of {sub['enum']}. {description}" if "enum" in sub else description


def schema_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """One readable line per schema violation, naming the config key and what it accepts."""
    import jsonschema

    lines = []
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        key, sub = _key(error.absolute_path), error.schema
        if error.validator in ("additionalProperties", "required") and isinstance(error.instance, dict):
            known = sorted(sub.get("properties", {}))
            for name in sorted(set(error.instance) - set(known) if error.validator == "additionalProperties"
                               else set(error.validator_value) - set(error.instance)):
                where = f"{key}.{name}" if error.absolute_path else name
                if error.validator == "additionalProperties":
                    lines.append(f"config key '{where}' is not a setting; known keys here: {', '.join(known)}")
                else:  # one error per missing key, each naming them all: say each once
                    prop = sub.get("properties", {}).get(name, {})
                    lines.append(f"config key '{where}' is missing; it is required. "
                                 f"{_accepts(prop, prop.get('description', ''))}".strip())
            continue
        description = _description(schema, list(error.absolute_schema_path)[:-1])
        accepts = description if error.validator == "enum" else _accepts(sub, description)
        lines.append(f"config key '{key}': {error.message}. {accepts}".strip())
    return list(dict.fromkeys(lines))


def check_config_schema(config: dict[str, Any], schema_path: str | Path) -> None:
    """Raise ConfigError listing every schema violation of ``config``, before Snakemake plans a job."""
    import yaml

    errors = schema_errors(config, yaml.safe_load(Path(schema_path).read_text()))
    if errors:
        raise ConfigError("the config is not valid:\n  - " + "\n  - ".join(errors) +
                          "\nSee config/schema.yaml for every key, its type and its default.")


# Which models each rule loads: the ones a run's jobs need must be on this machine.
RULES_USING_CLIP = {"encode_real", "zero_shot", "select", "train_prompts"}
RULES_USING_DIFFUSION = {"train_lora", "generate"}


def missing_models(config: dict[str, Any], rules: set[str]) -> list[str]:
    """Problems (model, place looked in, command to run) for the models that ``rules`` will load."""
    from air_core.config import ClipSpec, DiffusionSpec, from_dict
    from air_core.models.availability import clip_problem, diffusion_problem

    problems = []
    clip, diffusion = config["models"]["clip"], config["models"]["diffusion"]
    results_dir = config.get("results_dir", "results")
    # A model under results_dir is made by a rule of this run (the toy models): the DAG waits for it.
    if rules & RULES_USING_CLIP and not made_by_workflow(clip.get("pretrained"), results_dir):
        problems.append(clip_problem(from_dict(ClipSpec, clip)))
    if rules & RULES_USING_DIFFUSION and not made_by_workflow(diffusion["id"], results_dir):
        problems.append(diffusion_problem(from_dict(DiffusionSpec, diffusion)))
    return [p for p in problems if p]


def stop_if_models_missing(config: dict[str, Any], dag: Any) -> None:
    """The workflow's onstart check: raise before any job is queued if a needed model is missing."""
    rules = {job.rule.name for job in dag.needrun_jobs()}
    problems = missing_models(config, rules)
    if problems:
        raise ConfigError("a model this run needs is missing:\n  - " + "\n  - ".join(problems))
