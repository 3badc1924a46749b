"""Dataset presets and the dataset settings that the manifest rule needs.

A dataset entry of the config may name a preset, ``config/datasets/<preset>.yaml``; the preset's
settings (layout, class-name file, t_data description, CPL thresholds) are completed with the
entry's own keys, which win. The preset's ``root`` is a template under ``data_root``:

    datasets:
      flowers102: {preset: flowers102, data_root: /data}          # root = /data/Flowers102
      eurosat: {preset: eurosat, root: /scratch/EuroSAT_ELEVATER}  # an explicit root wins

``resolve_datasets`` runs before the schema check, so the validated config holds every
dataset's full settings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from air_core.config import DatasetConfig
from air_core.errors import ConfigError

PRESETS_DIR = Path(__file__).resolve().parents[1] / "config" / "datasets"
# Layouts whose data the manifest rule reads from 'root' (imagefolder's root is checked by check_config).
READ_LAYOUTS = ("flowers102", "dtd", "fgvc_aircraft", "eurosat", "resisc45", "manifest_file")


@dataclass(frozen=True)
class DataSource:
    """Where and how the manifest rule reads one dataset: its part of ``datasets.<name>``."""

    name: str
    layout: str = "imagefolder"
    root: str | None = None
    class_names: str | None = None
    test_fraction: float = 0.3
    split_seed: int = 0
    on_unreadable: str = "skip"
    allow_outside_root: bool = False

    @classmethod
    def of(cls, dataset: DatasetConfig) -> DataSource:
        """The manifest rule's part of a dataset's settings: only what changes the manifest, so that editing
        t_data or the CPL thresholds does not re-run the manifest and every stage after it."""
        return cls(**{f.name: getattr(dataset, f.name) for f in fields(cls)})


def available_presets(presets_dir: str | Path = PRESETS_DIR) -> list[str]:
    return sorted(p.stem for p in Path(presets_dir).glob("*.yaml"))


def load_preset(name: str, presets_dir: str | Path = PRESETS_DIR) -> dict[str, Any]:
    """A preset's settings, with its class-name file made absolute (it is relative to the preset file)."""
    path = Path(presets_dir) / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"dataset preset '{name}' does not exist (no {path}); use one of "
            f"{available_presets(presets_dir)} or give the dataset's layout, root and class_names"
        )
    preset = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if preset.get("class_names"):
        preset["class_names"] = str((path.parent / preset["class_names"]).resolve())
    return preset


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` completed by ``override``, recursively for nested mappings; override wins."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_preset(name: str, entry: dict[str, Any], presets_dir: str | Path = PRESETS_DIR) -> dict[str, Any]:
    """One dataset entry with its preset filled in (a no-op for an entry without ``preset``)."""
    if not entry.get("preset"):
        return entry
    try:
        preset = load_preset(str(entry["preset"]), presets_dir)
    except ConfigError as err:
        raise ConfigError(f"datasets.{name}.preset: {err}") from None  # name the key
    merged = _merge(preset, {k: v for k, v in entry.items() if v is not None})
    if entry.get("root") is None:
        if not entry.get("data_root"):
            raise ConfigError(
                f"datasets.{name}: set 'data_root' (the folder that holds "
                f"{str(preset.get('root', '')).replace('{data_root}/', '')}) or 'root' "
                "(the dataset folder itself)"
            )
        merged["root"] = str(preset["root"]).format(data_root=str(entry["data_root"]).rstrip("/"))
    return merged


def check_data_paths(name: str, ds: dict[str, Any]) -> None:
    """ConfigError when a read layout's root or class-name file is missing, before any job is planned."""
    layout, root = ds.get("layout"), ds.get("root")
    if layout not in READ_LAYOUTS:
        return
    is_file = layout == "manifest_file"
    if not root:
        raise ConfigError(
            f"datasets.{name}.root is not set; the {layout} layout needs "
            f"{'the manifest file' if is_file else 'the dataset folder'}"
        )
    if not (Path(root).is_file() if is_file else Path(root).is_dir()):
        raise ConfigError(
            f"datasets.{name}.root = '{root}' is not a {'file' if is_file else 'folder'}; fix the "
            "path (docs/datasets.md says where to get the dataset) or remove the dataset"
        )
    if ds.get("class_names") and not Path(ds["class_names"]).is_file():
        raise ConfigError(f"datasets.{name}.class_names = '{ds['class_names']}' is not a file")


def resolve_datasets(config: dict[str, Any], presets_dir: str | Path = PRESETS_DIR, check_data: bool = True) -> None:
    """Fill in every dataset's preset and check its data paths (unless ``check_data`` is False), in place,
    before schema validation. Entries that are not mappings are left for the schema check to report.
    """
    datasets = config.get("datasets")
    if not isinstance(datasets, dict):
        return
    for name, entry in list(datasets.items()):
        if isinstance(entry, dict):
            datasets[name] = resolve_preset(name, entry, presets_dir)
            if check_data:
                check_data_paths(name, datasets[name])
