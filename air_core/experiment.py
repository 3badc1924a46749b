"""The experiment a config describes, resolved once: checked, completed with the schema's defaults, typed.

``load_experiment`` is the one way from a config (Snakemake's ``config``, or a YAML file for the CLI and
the tests) to the typed ``Experiment`` that the rules plan from and hand to the scripts:

1. YAML files that set a key twice, and dataset or method names that YAML reads as numbers or booleans,
   are refused (``config_checks``);
2. dataset presets are filled in and data paths looked at (``datasets_config``);
3. each ``sweep`` of a method is expanded into one named method per value (below);
4. the JSON schema (``config/schema.yaml``) is checked, one line per mistake naming the key, and its
   defaults filled in: the schema is the only place a default lives;
5. the typed objects are built, and what only fails together is checked (``config_checks``).
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import path as os_path
from pathlib import Path
from typing import Any

import yaml

from air_core.config import (
    ClipSpec,
    DatasetConfig,
    DiffusionSpec,
    GenerateConfig,
    LoraTrainConfig,
    Recipe,
    SDVariant,
    from_dict,
)
from air_core.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
WHERE_KEYS = ("paradigms", "prompts", "datasets")  # where a method runs: the grid's business, not the run's
REPORT_KEYS = ("paper_method", "paper_row")  # how the tables name a method: no run depends on them
GENERATE_JOB_KEYS = ("batch_size", "shards")  # how generation is cut into batches and jobs, not what it makes


@functools.cache
def schema() -> dict[str, Any]:
    """config/schema.yaml, the only place a setting's default and meaning live."""
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def fill_defaults(instance: Any, node: Mapping[str, Any]) -> None:
    """Fill ``instance`` in place with the schema's defaults, recursively (objects, maps of objects, lists)."""
    if isinstance(instance, dict):
        properties = node.get("properties", {})
        for key, sub in properties.items():
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                fill_defaults(instance[key], sub)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                if key not in properties:
                    fill_defaults(value, extra)
    elif isinstance(instance, list) and isinstance(node.get("items"), dict):
        for item in instance:
            fill_defaults(item, node["items"])


STUDY_CELL = ("ul", "text")  # (paradigm, prompt) where the paper ran its ablations and fig. 3's studies


@dataclass(frozen=True)
class Method:
    """A method as the config names it: its recipe keys, the grid cells it runs on, its table names.

    ``entry`` holds only what changes a run's results; where the method runs (``paradigms``,
    ``prompts``, ``datasets``) and how the tables name it (``paper_method``, ``paper_row``) are kept
    apart, so narrowing or renaming a method re-runs none of its runs. A member of a sweep records
    the recipe it came from and its values (``sweep_of``, ``sweep``).
    """

    name: str
    entry: dict[str, Any]
    paradigms: tuple[str, ...] | None = None
    prompts: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None
    paper_method: str | dict | None = None
    paper_row: str | dict | None = None
    sweep_of: str | None = None
    sweep: dict[str, Any] = field(default_factory=dict)

    def runs_on(self, paradigm: str | None = None, prompt: str | None = None, dataset: str | None = None) -> bool:
        """Whether the method's own narrowing lists (absent = all) include these; None = any."""
        return all(
            value is None or value in (narrowing or (value,))
            for value, narrowing in ((paradigm, self.paradigms), (prompt, self.prompts), (dataset, self.datasets))
        )

    def recipe(self, dataset: DatasetConfig | None = None, paradigm: str = "ul", prompt: str = "text") -> Recipe:
        """The resolved recipe of a run of this method (CPL's thresholds come from the dataset)."""
        from air_core.recipes import resolve_recipe

        return resolve_recipe(self.name, self.entry, prompt, paradigm, dataset.cpl if dataset else None)


@dataclass(frozen=True)
class Run:
    """One run: a cell of the grid on a dataset with a seed.

    Its folder is ``<d>/runs/<paradigm>/<prompt>/<method>/seed<s>``.
    """

    dataset: str
    paradigm: str
    prompt: str
    method: str
    seed: int


@dataclass(frozen=True)
class Experiment:
    """The whole validated config, typed. Rules plan from it; scripts get their parts of it as JSON."""

    results_dir: str
    device: str
    diffusion_precision: str
    threads: int  # torch threads per job, 0 = torch's default
    prompt_template: str
    clip: ClipSpec
    diffusion: DiffusionSpec
    datasets: dict[str, DatasetConfig]
    paradigms: tuple[str, ...]
    prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    encode_batch_size: int
    generate_batch_size: int
    generate_shards: int
    sd_variants: dict[str, SDVariant]
    methods: dict[str, Method]
    toy_world: dict[str, Any] | None = None

    def grid(self, dataset: str | None = None) -> list[tuple[str, str, str]]:
        """(paradigm, prompt, method) of every run on ``dataset`` (None: on any dataset), per seed."""
        return [
            (paradigm, prompt, name)
            for paradigm in self.paradigms
            for prompt in self.prompts
            for name in self.methods_at(paradigm, prompt, dataset)
        ]

    def methods_at(self, paradigm: str, prompt: str, dataset: str | None = None) -> list[str]:
        """The methods that run on one cell of the grid, in config order."""
        return [name for name, method in self.methods.items() if method.runs_on(paradigm, prompt, dataset)]

    def runs(self, datasets: Iterable[str] | None = None) -> list[Run]:
        """Every run of the experiment (of ``datasets`` only, when given)."""
        return [
            Run(d, paradigm, prompt, method, seed)
            for d in (self.datasets if datasets is None else datasets)
            for paradigm, prompt, method in self.grid(d)
            for seed in self.seeds
        ]

    def recipe(self, method: str, dataset: str, paradigm: str, prompt: str) -> Recipe:
        """The resolved recipe of one run."""
        return self.methods[method].recipe(self.datasets[dataset], paradigm, prompt)

    def method_summary(self) -> dict[str, dict[str, Any]]:
        """Per method, in config order, what the tables need (``method_info``)."""
        return {name: method_info(method, self.sd_variants) for name, method in self.methods.items()}

    def made_by_workflow(self, path: str | None) -> bool:
        """True for a path under ``results_dir``: a rule makes it (the toy world's dataset and models), so it
        need not exist before the run; the DAG checks that some rule produces it."""
        return made_by_workflow(path, self.results_dir)

    def variants_read(self, dataset: str | None = None) -> list[str]:
        """The SD variants some run (on ``dataset``) reads synthetic images of: only these are planned."""
        names = set()
        for paradigm, prompt, method in self.grid(dataset):
            recipe = self.methods[method].recipe(self.datasets.get(dataset) if dataset else None, paradigm, prompt)
            if recipe.reads_synthetic:
                names.add(recipe.synthetic)
        return [v for v in self.sd_variants if v in names]


def method_info(method: Method, sd_variants: Mapping[str, SDVariant]) -> dict[str, Any]:
    """What the tables and figures need of a method: its table names, where it runs, its sweep, and its
    switches, resolved once here so that no table re-derives a recipe."""
    recipe = method.recipe()
    variant = sd_variants.get(recipe.synthetic)
    return {
        "paper_method": method.paper_method,
        "paper_row": method.paper_row,
        "paradigms": method.paradigms,
        "prompts": method.prompts,
        "datasets": method.datasets,
        "sweep_of": method.sweep_of,
        "sweep": method.sweep,
        "base": recipe.base,
        "real_training": recipe.real_training,
        "fuses": recipe.fuses,
        "synthetic_loss": recipe.synthetic_loss,
        "prototypes": recipe.prototypes,
        "synthetic": recipe.synthetic,
        "lora": bool(variant and variant.lora is not None),
    }


def made_by_workflow(path: str | None, results_dir: str) -> bool:
    """True for a path under ``results_dir`` (see ``Experiment.made_by_workflow``)."""
    if not path:
        return False
    return Path(os_path.normpath(path)).is_relative_to(Path(os_path.normpath(results_dir)))


def format_value(value: Any) -> str:
    """A sweep value as a part of a method name (and so of every path of its runs)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def expand_sweeps(methods: Any) -> tuple[Any, dict[str, tuple[str, dict[str, Any]]]]:
    """Methods with each ``sweep`` expanded: ``{air: {..., sweep: {fusion_lambda: [0, 1]}}}`` becomes
    ``air-0`` and ``air-1`` (with several keys, the product: ``air-0-0.3``, values in key order).

    Returns:
        The expanded methods (config order) and, per member, (the sweep's name, its values).
    """
    if not isinstance(methods, dict):
        return methods, {}
    expanded: dict[Any, Any] = {}
    origins: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, entry in methods.items():
        sweep = entry.get("sweep") if isinstance(entry, dict) else None
        if sweep is None:
            expanded[name] = entry
            continue
        if not isinstance(sweep, dict) or not sweep or not all(isinstance(v, list) and v for v in sweep.values()):
            raise ConfigError(
                f"methods.{name}.sweep must map recipe keys to non-empty lists of values, e.g. "
                "sweep: {fusion_lambda: [0, 0.3, 1]}"
            )
        _refuse_repeated_values(name, sweep)
        base = {k: v for k, v in entry.items() if k != "sweep"}
        for values in itertools.product(*sweep.values()):
            combo = dict(zip(sweep, values, strict=True))
            member = f"{name}-" + "-".join(format_value(v) for v in values)
            if member in methods or member in expanded:
                raise ConfigError(
                    f"methods.{name}.sweep makes the method '{member}', which is already a method; rename one of them"
                )
            expanded[member] = {**base, **combo}
            origins[member] = (name, combo)
    return expanded, origins


def _refuse_repeated_values(name: str, sweep: Mapping[str, list]) -> None:
    """ConfigError for a sweep list with one value twice (``[1, 1.0]`` is equal as YAML numbers): two methods
    with different names and the same recipe would run the same runs twice and count as two points."""
    for key, values in sweep.items():
        for i, value in enumerate(values):
            same = [v for v in values[:i] if v == value and isinstance(v, bool) == isinstance(value, bool)]
            if same:
                twin = same[0]
                raise ConfigError(
                    f"methods.{name}.sweep.{key} = {values} holds the value {value!r} twice (as {twin!r} and "
                    f"{value!r}), which would make two methods with the same recipe; give each value once"
                )


def method_of(name: str, entry: Mapping[str, Any], origin: tuple[str, dict] | None = None) -> Method:
    """The ``Method`` of one (expanded) config entry."""
    recipe_keys = {k: v for k, v in entry.items() if k not in WHERE_KEYS + REPORT_KEYS and v is not None}

    def narrowing(key: str) -> tuple[str, ...] | None:
        return tuple(entry[key]) if entry.get(key) else None

    return Method(
        name=name,
        entry=recipe_keys,
        paradigms=narrowing("paradigms"),
        prompts=narrowing("prompts"),
        datasets=narrowing("datasets"),
        paper_method=entry.get("paper_method"),
        paper_row=entry.get("paper_row"),
        sweep_of=origin[0] if origin else None,
        sweep=dict(origin[1]) if origin else {},
    )


def _variant(name: str, entry: Mapping[str, Any], lora: Mapping[str, Any], generate: Mapping[str, Any]) -> SDVariant:
    tuned = entry.get("lora", True)
    lora_cfg = (
        None if tuned is False else from_dict(LoraTrainConfig, {**lora, **(tuned if isinstance(tuned, dict) else {})})
    )
    shaping = {k: v for k, v in generate.items() if k not in GENERATE_JOB_KEYS}
    return SDVariant(
        name=name, lora=lora_cfg, generate=from_dict(GenerateConfig, {**shaping, **entry.get("generate", {})})
    )


def build_experiment(config: Mapping[str, Any], origins: Mapping[str, tuple[str, dict]] | None = None) -> Experiment:
    """The typed experiment of a config that passed the schema and has its defaults filled in."""
    origins = origins or {}
    models = config["models"]
    return Experiment(
        results_dir=config["results_dir"],
        device=config["device"],
        diffusion_precision=config["diffusion_precision"],
        threads=config["threads"],
        prompt_template=config["prompt_template"],
        clip=from_dict(ClipSpec, models["clip"]),
        diffusion=from_dict(DiffusionSpec, models["diffusion"]),
        datasets={name: from_dict(DatasetConfig, {**ds, "name": name}) for name, ds in config["datasets"].items()},
        paradigms=tuple(config["paradigms"]),
        prompts=tuple(config["prompts"]),
        seeds=tuple(config["seeds"]),
        encode_batch_size=config["encode"]["batch_size"],
        generate_batch_size=config["generate"]["batch_size"],
        generate_shards=config["generate"]["shards"],
        sd_variants={
            name: _variant(name, entry or {}, config["lora"], config["generate"])
            for name, entry in config["sd_variants"].items()
        },
        methods={name: method_of(name, entry, origins.get(name)) for name, entry in config["methods"].items()},
        toy_world=config.get("toy_world"),
    )


def load_experiment(
    config: dict[str, Any],
    configfiles: Sequence[str | Path] = (),
    presets_dir: str | Path | None = None,
    check_data: bool = True,
) -> Experiment:
    """Check and resolve a config once; ``config`` is completed in place (presets, sweeps, defaults).

    Args:
        config: the config as Snakemake (or ``yaml.safe_load``) read it.
        configfiles: the YAML files it came from, re-read to refuse a key written twice.
        presets_dir: the folder of dataset presets (default: config/datasets).
        check_data: look at the datasets on disk (roots, class names); False plans an experiment whose data
            is on another machine (the GPU plan).
    Raises:
        ConfigError: naming every key that is wrong and what it accepts.
    """
    from air_core import config_checks
    from air_core.datasets_config import PRESETS_DIR, resolve_datasets
    from air_core.results_dir import check_dataset_names

    for path in configfiles:
        config_checks.load_yaml(path)  # refuses duplicate keys
    config_checks.expand_home(config)
    config_checks.check_names(config)
    check_dataset_names(config)
    resolve_datasets(config, presets_dir or PRESETS_DIR, check_data)
    config_checks.check_finite(config)  # before the sweeps: a NaN of a sweep is named by its own key
    config["methods"], origins = expand_sweeps(config.get("methods"))
    config_checks.check_config_schema(config, schema(), origins)
    fill_defaults(config, schema())
    experiment = build_experiment(config, origins)
    config_checks.check_experiment(experiment, check_data)
    return experiment


def load_experiment_file(path: str | Path) -> Experiment:
    """The experiment of a YAML config file (what ``snakemake --configfile path`` would run)."""
    from air_core import config_checks

    config = config_checks.load_yaml(path) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path} is not a mapping of config keys; see config/config.yaml for the form")
    return load_experiment(config)
