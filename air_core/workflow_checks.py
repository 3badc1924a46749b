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
