"""Checks of a validated config that a JSON schema cannot express, run before any job."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """The config asks for something that cannot run. The message names the key and the fix."""


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError for settings that are valid JSON but cannot work together."""
    for name, ds in config["datasets"].items():
        if ds["layout"] == "imagefolder":
            if not ds.get("root"):
                raise ConfigError(f"datasets.{name}.root is not set; the imagefolder layout needs the dataset folder")
            if not Path(ds["root"]).is_dir():
                raise ConfigError(f"datasets.{name}.root = '{ds['root']}' is not a folder; fix the path or "
                                  "remove the dataset from 'datasets'")
            if ds.get("class_names") and not Path(ds["class_names"]).is_file():
                raise ConfigError(f"datasets.{name}.class_names = '{ds['class_names']}' is not a file")
    generated = config["generate"]["images_per_class"]
    for name, recipe in config["methods"].items():
        m = recipe.get("n_synthetic")
        if m is not None and m > generated:
            raise ConfigError(f"methods.{name}.n_synthetic = {m} is more than generate.images_per_class = "
                              f"{generated}; raise generate.images_per_class or lower n_synthetic")


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def schema_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """One readable line per schema violation, naming the config key and what it accepts."""
    import jsonschema

    lines = []
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        key, sub = _key(error.absolute_path), error.schema
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = sorted(sub.get("properties", {}))
            for extra in sorted(set(error.instance) - set(known)):
                where = f"{key}.{extra}" if error.absolute_path else extra
                lines.append(f"config key '{where}' is not a setting; known keys here: {', '.join(known)}")
            continue
        accepts = sub.get("description", "")
        if "enum" in sub:
            accepts = f"one of {sub['enum']}. {accepts}"
        lines.append(f"config key '{key}': {error.message}. {accepts}".strip())
    return lines


def check_config_schema(config: dict[str, Any], schema_path: str | Path) -> None:
    """Raise ConfigError listing every schema violation of ``config``, before Snakemake plans a job."""
    import yaml

    errors = schema_errors(config, yaml.safe_load(Path(schema_path).read_text()))
    if errors:
        raise ConfigError("the config is not valid:\n  - " + "\n  - ".join(errors) +
                          "\nSee config/schema.yaml for every key, its type and its default.")
