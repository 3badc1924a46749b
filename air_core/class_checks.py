"""The checks of a dataset's classes before any job, the same for every layout.

The class names are read at planning (``known_class_names``: shapes and the toy world from their settings,
every other layout with ``air_core.data.readers.dataset_class_names``), then checked together with the
experiment: the class count (and TRZSL's seen/unseen split), shards, what recipes need of the class count,
prompt lengths, prompts that CLIP's context cuts to the same tokens, and the folder names of the classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from air_core.errors import ConfigError

if TYPE_CHECKING:
    from air_core.config import DatasetConfig
    from air_core.experiment import Experiment

DEFAULT_CONTEXT_LENGTH = 77  # CLIP's text context


def check_dataset_classes(exp: Experiment, name: str, ds: DatasetConfig) -> None:
    """Class counts, prompt lengths and file names of one dataset's classes, whatever its layout."""
    names = known_class_names(exp, ds)
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
    _check_slugs(name, names)
    for paradigm, prompt, method in exp.grid(name):
        _check_recipe_with_classes(exp, name, n, method, exp.recipe(method, name, paradigm, prompt), paradigm)
    _check_prompt_lengths(exp, name, names)


def _check_slugs(name: str, names: list[str]) -> None:
    """ConfigError when a class's folder name (its slug) would not fit a file system's name limit."""
    from air_core.data.names import MAX_NAME_BYTES, slugify

    for class_name in names:
        if len(slugify(class_name).encode()) > MAX_NAME_BYTES:  # slugify keeps it short: a guard for its changes
            raise ConfigError(
                f"datasets.{name}: the class {class_name!r} gets a folder name over {MAX_NAME_BYTES} bytes"
            )


def _check_recipe_with_classes(exp: Experiment, name: str, n: int, method: str, recipe, paradigm: str) -> None:
    """What a recipe can only do with enough classes: CPL's auto*g beta, SSL's labelled images after the hold-out."""
    from air_core.paradigms import SSL_LABELED_PER_CLASS

    beta = recipe.cpl_beta
    if recipe.pseudo_labels == "cpl" and isinstance(beta, str) and float(beta.split("*", 1)[1]) > n:
        key = f"methods.{method}.cpl_beta" if "cpl_beta" in exp.methods[method].entry else f"datasets.{name}.cpl"
        raise ConfigError(
            f"{key} = '{beta}' ({paradigm}) means 1 - g/C = {1 - float(beta.split('*', 1)[1]) / n:.3g} with the "
            f"{n} classes of datasets.{name}, not a quantile in [0, 1]; use a g of at most {n}"
        )
    labeled = int(SSL_LABELED_PER_CLASS * n * (1.0 - recipe.validation_holdout))
    if paradigm == "ssl" and recipe.epochs and labeled == 0:
        raise ConfigError(
            f"methods.{method}.validation_holdout = {recipe.validation_holdout} holds out every one of SSL's "
            f"{SSL_LABELED_PER_CLASS * n} labelled images of datasets.{name} ({SSL_LABELED_PER_CLASS} per class), "
            "so none would train; lower it (0.2 is the reference's)"
        )


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


def known_class_names(exp: Experiment, ds: DatasetConfig) -> list[str]:
    """A dataset's class names, before any job, for every layout (``air_core.data.readers.dataset_class_names``;
    the drawn datasets' from their settings).

    Raises:
        ConfigError: naming the dataset, when its class names cannot be read.
    """
    from air_core.data.readers import dataset_class_names
    from air_core.data.shapes import class_names as shape_names
    from air_core.errors import DatasetError

    if ds.layout == "shapes":
        return shape_names(ds.shapes.classes)
    if exp.toy_world and ds.root and exp.made_by_workflow(ds.root):
        return list(exp.toy_world["world"]["target_classes"])  # the toy target, drawn by a rule of this run
    try:
        return dataset_class_names(ds.layout, ds.root, ds.class_names)
    except DatasetError as err:
        raise ConfigError(f"datasets.{ds.name}: {err}") from None
