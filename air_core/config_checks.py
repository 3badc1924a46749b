"""The config's checks, before any job: YAML, names, the schema, and what only fails together.

Every value that would crash a job later (after hours of GPU on a cluster) is checked here, and every
message names the config key and what it accepts. ``air_core.experiment.load_experiment`` runs them.
"""

from __future__ import annotations

import math
import os
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from air_core.errors import ConfigError

if TYPE_CHECKING:
    from air_core.config import ClipSpec, DatasetConfig
    from air_core.experiment import Experiment

NAMED_SECTIONS = ("datasets", "methods", "sd_variants")  # their keys become folder names and wildcards


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a mapping with a key written twice (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"{self.name}: the key '{key}' is written twice in one mapping (lines "
                    f"{seen[key] + 1} and {key_node.start_mark.line + 1}); YAML would keep only the "
                    "last one silently. Merge the two blocks into one"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path) -> Any:
    """A YAML (or JSON) config file; a key written twice in one mapping is a ConfigError naming both lines."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as stream:
            loader = _UniqueKeyLoader(stream)
            loader.name = str(path)
            try:
                return loader.get_single_data()
            finally:
                loader.dispose()
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None


def expand_home(config: dict[str, Any]) -> None:
    """A leading '~' of a path key made the home folder, in place (Python's file calls do not expand it: a
    results_dir of '~/x' would be a folder named '~' in the working directory)."""

    def expand(node: Any, key: str) -> None:
        if isinstance(node, dict) and isinstance(node.get(key), str) and node[key].startswith("~"):
            node[key] = os.path.expanduser(node[key])

    expand(config, "results_dir")
    models = config.get("models") if isinstance(config.get("models"), dict) else {}
    for key in ("arch", "pretrained"):
        expand(models.get("clip"), key)
    expand(models.get("diffusion"), "id")
    datasets = config.get("datasets") if isinstance(config.get("datasets"), dict) else {}
    for entry in datasets.values():
        for key in ("root", "data_root", "class_names"):
            expand(entry, key)


def check_names(config: Mapping[str, Any]) -> None:
    """Names that YAML reads as numbers or booleans, and a results folder that is no folder of its own."""
    for section in NAMED_SECTIONS:
        entries = config.get(section)
        if isinstance(entries, dict):
            for name in entries:
                if not isinstance(name, str):
                    raise ConfigError(
                        f"{section}: the name {name!r} is read by YAML as a {type(name).__name__}, "
                        f"not as text; quote it ('{name}': ...) or choose a name that starts with a "
                        "letter"
                    )
    results_dir = config.get("results_dir", "results")
    if isinstance(results_dir, str) and Path(results_dir.strip() or ".").resolve() == Path.cwd().resolve():
        raise ConfigError(
            f"results_dir = '{results_dir}' is the working directory itself; give the experiment a "
            "folder of its own, e.g. results_dir: results"
        )


def non_finite_keys(node: Any, path: tuple = ()) -> list[str]:
    """The dotted key of every NaN or infinite number in ``node`` (YAML reads .nan and .inf as floats, and the
    schema's bounds let NaN through: every comparison with NaN is false)."""
    if isinstance(node, float) and not math.isfinite(node):
        return [_key(path)]
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in non_finite_keys(value, (*path, key))]
    if isinstance(node, (list, tuple)):
        return [k for i, value in enumerate(node) for k in non_finite_keys(value, (*path, i))]
    return []


def check_finite(config: Mapping[str, Any]) -> None:
    """ConfigError naming every key whose value is NaN or infinite: no setting of this workflow takes one."""
    keys = non_finite_keys(dict(config))
    if keys:
        raise ConfigError(
            "the config is not valid:\n  - "
            + "\n  - ".join(f"config key '{k}' is not a finite number (NaN or infinity); give a number" for k in keys)
        )


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
            for name in sorted(
                set(error.instance) - set(known)
                if error.validator == "additionalProperties"
                else set(error.validator_value) - set(error.instance)
            ):
                where = f"{key}.{name}" if error.absolute_path else name
                if error.validator == "additionalProperties":
                    lines.append(f"config key '{where}' is not a setting; known keys here: {', '.join(known)}")
                else:  # one error per missing key, each naming them all: say each once
                    prop = sub.get("properties", {}).get(name, {})
                    lines.append(
                        f"config key '{where}' is missing; it is required. "
                        f"{_accepts(prop, prop.get('description', ''))}".strip()
                    )
            continue
        description = _description(schema, list(error.absolute_schema_path)[:-1])
        accepts = description if error.validator == "enum" else _accepts(sub, description)
        lines.append(f"config key '{key}': {error.message}. {accepts}".strip())
    return list(dict.fromkeys(lines))


def _name_sweep_keys(line: str, origins: Mapping[str, tuple[str, dict]]) -> str:
    """Point a message about an expanded sweep member back at the sweep's own key."""
    for member, (name, combo) in origins.items():
        for key in combo:
            line = line.replace(f"methods.{member}.{key}'", f"methods.{name}.sweep.{key}' (value {combo[key]!r})")
        line = line.replace(f"methods.{member}.", f"methods.{name}.")
    return line


def check_config_schema(
    config: dict[str, Any], schema: dict[str, Any], origins: Mapping[str, tuple[str, dict]] | None = None
) -> None:
    """Raise ConfigError listing every schema violation of ``config``, before Snakemake plans a job."""
    errors = [_name_sweep_keys(line, origins or {}) for line in schema_errors(config, schema)]
    if errors:
        raise ConfigError(
            "the config is not valid:\n  - "
            + "\n  - ".join(dict.fromkeys(errors))
            + "\nSee config/schema.yaml for every key, its type and its default."
        )


def check_experiment(exp: Experiment, check_data: bool = True) -> None:
    """Raise ConfigError for settings that are valid one by one but cannot run together (``check_data``:
    also the dataset folders and what their class names allow)."""
    _check_template(exp.prompt_template)
    _check_clip_activation(exp.clip)
    for name, ds in exp.datasets.items() if check_data else ():
        _check_dataset_paths(exp, name, ds)
    for name, variant in exp.sd_variants.items():
        for section, resolution in (
            ("lora", variant.lora.resolution if variant.lora else 8),
            ("generate", variant.generate.resolution),
        ):
            if resolution % 8:
                raise ConfigError(
                    f"{section}.resolution (SD variant '{name}') = {resolution} is not a multiple of 8, "
                    "which Stable Diffusion's VAE and UNet need; use e.g. "
                    f"{max(8, resolution - resolution % 8)}"
                )
    for name, method in exp.methods.items():
        _check_method(exp, name, method)
    _check_file_names(exp)
    from air_core.class_checks import check_dataset_classes

    for name, ds in exp.datasets.items() if check_data else ():
        check_dataset_classes(exp, name, ds)


def _check_template(template: str) -> None:
    """The template as ``str.format`` reads it (what the zero-shot job does with it): exactly one '{}' field.
    Counting '{}' is not enough: '{{}}' is a literal '{}' (every class would get the same prompt) and '{d}' a
    named field (a KeyError in the job)."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as err:  # a lone '{' or '}'
        fields = [("?", str(err), None)]
    if fields != [("", "", None)]:
        raise ConfigError(
            f"prompt_template = {template!r} must hold exactly one '{{}}' (where the class name goes) and no other "
            "{...} field, e.g. 'a photo of a {}'; write '{{' and '}}' for a literal brace"
        )


def _file_names(exp: Experiment):
    """(the name's config key, its length source, a file name) for the longest file names that the rules build
    from the names of datasets, methods and SD variants: the per-run logs and benchmarks
    (``<d>_<paradigm>_<prompt>_<method>_seed<s>.log``), the figures' temporary files beside them
    (``.<figure>.png.<8 hex>.png``, air_core.atomic) and the per-variant logs."""
    for run in exp.runs():
        method = exp.methods[run.method]
        key = f"methods.{method.sweep_of}.sweep" if method.sweep_of else f"methods.{run.method}"
        if len(run.dataset) > len(run.method):
            key = f"datasets.{run.dataset}"
        yield key, f"{run.dataset}_{run.paradigm}_{run.prompt}_{run.method}_seed{run.seed}.log"
        yield key, f".training_{run.paradigm}_{run.prompt}_{run.method}.png.00000000.png"
    for d in exp.datasets:
        for variant in exp.variants_read(d):
            key = f"sd_variants.{variant}" if len(variant) >= len(d) else f"datasets.{d}"
            yield key, f"{d}_{variant}_shard{exp.generate_shards - 1}.log"
            yield key, f".lora_loss_{variant}.png.00000000.png"


def _check_file_names(exp: Experiment) -> None:
    """ConfigError when a name of the config makes a file name longer than file systems allow (255 bytes):
    the job that writes it would stop with 'File name too long', after the stages before it."""
    from air_core.data.names import MAX_NAME_BYTES

    for part in Path(exp.results_dir).parts:
        if len(part.encode()) > MAX_NAME_BYTES:
            raise ConfigError(
                f"results_dir: the folder name '{part[:40]}...' is {len(part.encode())} bytes long, more than the "
                f"{MAX_NAME_BYTES} bytes a file name may have; shorten it"
            )
    for key, file_name in _file_names(exp):
        size = len(file_name.encode())
        if size > MAX_NAME_BYTES:
            raise ConfigError(
                f"{key}: the name makes the file name '{file_name[:40]}...{file_name[-30:]}' {size} bytes long, "
                f"more than the {MAX_NAME_BYTES} bytes a file name may have; shorten the name by at least "
                f"{size - MAX_NAME_BYTES} characters"
            )


CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


def _check_clip_activation(clip: ClipSpec) -> None:
    """A checkpoint path needs ``quick_gelu`` said: the file does not record the activation its weights were
    trained with, and open_clip builds an architecture's own (GELU for ViT-B-32) unless told."""
    weights = clip.pretrained
    if clip.quick_gelu is not None or weights is None:
        return
    if "/" in weights or os.sep in weights or weights.lower().endswith(CHECKPOINT_SUFFIXES):
        raise ConfigError(
            f"models.clip.pretrained = '{weights}' is a checkpoint path, and models.clip.quick_gelu is not set: "
            "a checkpoint does not record the activation its weights were trained with, and GELU on weights "
            "trained with QuickGELU changes every feature without an error (open_clip issue 771). Set "
            "models.clip.quick_gelu: true for OpenAI's CLIP weights and models fine-tuned from them (trained "
            "with QuickGELU), false for weights trained with the architecture's own activation"
        )


def _check_dataset_paths(exp: Experiment, name: str, ds: DatasetConfig) -> None:
    if ds.layout != "imagefolder":
        return
    if not ds.root:
        raise ConfigError(f"datasets.{name}.root is not set; the imagefolder layout needs the dataset folder")
    if exp.made_by_workflow(ds.root):
        return  # drawn by a rule of this workflow (the toy world)
    if not Path(ds.root).is_dir():
        raise ConfigError(
            f"datasets.{name}.root = '{ds.root}' is not a folder; fix the path or remove the dataset from 'datasets'"
        )
    if ds.class_names and not Path(ds.class_names).is_file():
        raise ConfigError(f"datasets.{name}.class_names = '{ds.class_names}' is not a file")


def _check_method(exp: Experiment, name: str, method) -> None:
    for key, grid in (("paradigms", exp.paradigms), ("prompts", exp.prompts), ("datasets", tuple(exp.datasets))):
        narrowing = getattr(method, key)
        if narrowing and not set(narrowing) & set(grid):
            raise ConfigError(
                f"methods.{name}.{key} = {list(narrowing)} shares nothing with the experiment's "
                f"'{key}' {list(grid)}, so the method would never run; add one of them to '{key}' "
                f"or remove methods.{name}.{key}"
            )
    for d in exp.datasets:
        for paradigm in exp.paradigms:
            for prompt in exp.prompts:
                if method.runs_on(paradigm, prompt, d):
                    _check_recipe(exp, name, method.recipe(exp.datasets[d], paradigm, prompt))


def _check_recipe(exp: Experiment, name: str, recipe) -> None:
    if recipe.epochs and recipe.warmup_epochs > recipe.epochs:
        inherited = "" if "warmup_epochs" in exp.methods[name].entry else f" (the {recipe.base} base's default)"
        raise ConfigError(
            f"methods.{name}.warmup_epochs = {recipe.warmup_epochs}{inherited} is more than its {recipe.epochs} "
            f"epochs, so the learning rate would never reach methods.{name}.lr (with 1 epoch nothing trains: epoch 0 "
            f"runs at 0); set methods.{name}.warmup_epochs to at most {recipe.epochs}"
        )
    if recipe.synthetic not in exp.sd_variants:
        raise ConfigError(
            f"methods.{name}.synthetic = '{recipe.synthetic}' is not an SD variant; use one of "
            f"{list(exp.sd_variants)} or add it under sd_variants"
        )
    generated = exp.sd_variants[recipe.synthetic].generate.images_per_class
    if recipe.n_synthetic is not None and recipe.n_synthetic > generated:
        raise ConfigError(
            f"methods.{name}.n_synthetic = {recipe.n_synthetic} is more than the {generated} images per "
            f"class that SD variant '{recipe.synthetic}' generates (generate.images_per_class); raise "
            "generate.images_per_class or lower n_synthetic"
        )
