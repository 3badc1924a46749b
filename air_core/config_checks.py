"""The config's checks, before any job: YAML, names, the schema, and what only fails together.

Every value that would crash a job later (after hours of GPU on a cluster) is checked here, and every
message names the config key and what it accepts. ``air_core.experiment.load_experiment`` runs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from air_core.errors import ConfigError

if TYPE_CHECKING:
    from air_core.config import DatasetConfig
    from air_core.experiment import Experiment

NAMED_SECTIONS = ("datasets", "methods", "sd_variants")  # their keys become folder names and wildcards
DEFAULT_CONTEXT_LENGTH = 77  # CLIP's text context


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
    if exp.prompt_template.count("{}") != 1:
        raise ConfigError(
            f"prompt_template = '{exp.prompt_template}' must hold exactly one '{{}}' (where the class "
            "name goes), e.g. 'a photo of a {}'"
        )
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
    for name, ds in exp.datasets.items() if check_data else ():
        _check_classes(exp, name, ds)


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


def _check_classes(exp: Experiment, name: str, ds: DatasetConfig) -> None:
    """Class counts and prompt lengths, for the datasets whose class names are known before the manifest
    (the manifest rule checks the others as its first step)."""
    names = known_class_names(exp, ds)
    if names is None:
        return
    _check_prompts_fit(exp, name, ds, names)
    check_class_names(exp, name, names)


def _check_prompts_fit(exp: Experiment, name: str, ds: DatasetConfig, names: list[str]) -> None:
    """ConfigError naming the file and line of a class name whose zero-shot prompt CLIP would cut."""
    from air_core.data.names import name_lines, overlong_prompt

    if ds.class_names and Path(ds.class_names).is_file():
        sources = [f"{ds.class_names} line {n}" for n, _ in name_lines(ds.class_names)]
    else:
        sources = [f"datasets.{name}"] * len(names)
    problem = overlong_prompt(names, sources, exp.prompt_template, context_length(exp))
    if problem:
        raise ConfigError(f"datasets.{name}: {problem}")


def check_class_names(exp: Experiment, name: str, names: list[str]) -> None:
    """ConfigError when a dataset's classes cannot run: too few (for TRZSL too), more shards than classes,
    or a class name too long for the prompt's context."""
    from air_core.paradigms import SEEN_FRACTION

    n = len(names)
    if n < 2:
        raise ConfigError(f"datasets.{name} has {n} class; a classifier needs at least 2")
    seen = int(n * SEEN_FRACTION)
    if (
        "trzsl" in exp.paradigms
        and any(m.runs_on("trzsl", dataset=name) for m in exp.methods.values())
        and (seen < 2 or n - seen < 1)
    ):
        raise ConfigError(
            f"datasets.{name} has {n} classes: TRZSL would see {seen} and leave {n - seen} unseen; it "
            "needs at least 2 seen and 1 unseen (4 classes or more). Remove 'trzsl' from 'paradigms' "
            "or narrow the methods with paradigms: [ul, ssl]"
        )
    if exp.variants_read(name) and exp.generate_shards > n:
        raise ConfigError(
            f"generate.shards = {exp.generate_shards} is more than the {n} classes of datasets.{name}, "
            f"so a shard would have nothing to generate; use at most {n}"
        )
    _check_prompt_lengths(exp, name, names)


def _check_prompt_lengths(exp: Experiment, name: str, names: list[str]) -> None:
    context = context_length(exp)
    for method_name, method in exp.methods.items():
        if not any(method.runs_on(p, q, name) for p in exp.paradigms for q in exp.prompts if q == "text"):
            continue
        recipe = method.recipe(exp.datasets[name])
        if recipe.epochs == 0:
            continue  # zero-shot CLIP builds no prompt
        n_ctx = recipe.n_ctx
        for class_name in names:
            # a BPE token covers at least one byte: only names that might not fit are tokenised
            if n_ctx + len(class_name.encode()) + 2 <= context:
                continue
            from air_core.data.names import clip_tokens

            length = n_ctx + len(clip_tokens(class_name)) + 2  # start, context, name, end
            if length > context:
                raise ConfigError(
                    f"methods.{method_name}.n_ctx = {n_ctx}: with the class '{class_name}' of datasets.{name} the "
                    f"text prompt is {length} tokens, more than the CLIP's context of {context}; lower n_ctx to "
                    f"{n_ctx - (length - context)} or shorten the class name"
                )


def context_length(exp: Experiment) -> int:
    """The text context of the experiment's CLIP, read from its model config without building it."""
    arch = exp.clip.arch
    if arch.endswith(".json"):
        if Path(arch).is_file():
            cfg = json.loads(Path(arch).read_text())
        elif exp.toy_world and exp.made_by_workflow(arch):  # the toy CLIP, made by a rule of this run
            return int(exp.toy_world["clip"]["context_length"])
        else:
            return DEFAULT_CONTEXT_LENGTH
    else:
        cfg = _builtin_model_config(arch) or {}
    return int(cfg.get("text_cfg", {}).get("context_length", DEFAULT_CONTEXT_LENGTH))


def _builtin_model_config(arch: str) -> dict | None:
    """open_clip's (or this project's) model config JSON of ``arch``, found on disk without importing open_clip."""
    import importlib.util

    folders = [Path(__file__).resolve().parent / "model_configs"]
    spec = importlib.util.find_spec("open_clip")
    if spec and spec.submodule_search_locations:
        folders += [Path(p) / "model_configs" for p in spec.submodule_search_locations]
    for folder in folders:
        path = folder / f"{arch}.json"
        if path.is_file():
            return json.loads(path.read_text())
    return None


def known_class_names(exp: Experiment, ds: DatasetConfig) -> list[str] | None:
    """A dataset's class names when they can be known before the manifest is read, else None."""
    from air_core.data.imagefolder import SPLITS
    from air_core.data.shapes import class_names as shape_names

    if ds.layout == "shapes":
        return shape_names(ds.shapes.classes)
    if exp.toy_world and ds.root and exp.made_by_workflow(ds.root):
        return list(exp.toy_world["world"]["target_classes"])  # the toy target, drawn by a rule of this run
    if ds.class_names and Path(ds.class_names).is_file():
        return [line.strip() for line in Path(ds.class_names).read_text(encoding="utf-8").splitlines() if line.strip()]
    if ds.layout == "imagefolder" and ds.root and Path(ds.root).is_dir():
        root = Path(ds.root)
        split = next((root / s for s in SPLITS if (root / s).is_dir()), root)
        return sorted(p.name.replace("_", " ") for p in split.iterdir() if p.is_dir() and not p.name.startswith("."))
    return None
