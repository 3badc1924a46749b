# Helpers, validation and target lists. No stage logic lives here.

import json
import os
from pathlib import Path

from snakemake.utils import validate

from air_core.recipes import grid_cells, methods_at, synthetic_needed
from air_core.workflow_checks import check_config, check_config_schema, stop_if_models_missing
from air_core.datasets_config import resolve_datasets

# Jobs never download: models come from the local caches (rule fetch_models fills them).
os.environ["HF_HUB_OFFLINE"] = "1"


envvars:
    "HF_HUB_OFFLINE",


resolve_datasets(config, os.path.join(workflow.basedir, "config", "datasets"))  # presets -> full settings
check_config_schema(config, workflow.source_path("../config/schema.yaml"))  # one line per mistake
validate(config, schema="../config/schema.yaml")  # fills the defaults
check_config(config)

R = config["results_dir"]
DATASETS = list(config["datasets"])
METHODS = config["methods"]
SEEDS = config["seeds"]
LOGS = f"{R}/logs"
BENCH = f"{R}/benchmarks"
RUN = f"{R}/{{d}}/runs/{{paradigm}}/{{prompt}}/{{method}}/seed{{seed}}"
RESULTS_TABLE = f"{R}/tables/results.parquet"
GRID = grid_cells(config)  # (paradigm, prompt, method) of every run, per dataset and seed
THREADS = max(config["threads"], 1)  # torch threads per job; Snakemake caps it at --cores
SCRIPTS = os.path.join(workflow.basedir, "workflow_scripts")  # works from any --directory


wildcard_constraints:
    d="|".join(DATASETS),
    method="|".join(METHODS),
    variant="lora|base",
    shard=r"\d+",
    seed=r"\d+",
    paradigm="ul|ssl|trzsl",
    prompt="text|visual",


def as_json(value):
    """A setting for a script's command line (quoted with :q in the shell command)."""
    return json.dumps(value, sort_keys=True)


def dataset_settings(wildcards):
    return as_json({"name": wildcards.d, **config["datasets"][wildcards.d]})


def dataset_source(wildcards):
    """The drawn dataset's folder when the workflow makes the dataset, else nothing."""
    from air_core.workflow_checks import made_by_workflow

    ds = config["datasets"][wildcards.d]
    if ds["layout"] == "shapes":
        return f"{R}/{wildcards.d}/source"
    if made_by_workflow(ds.get("root"), R):  # a root the workflow draws (the toy world target dataset)
        return os.path.normpath(ds["root"])
    return []


def model_inputs(kind):
    """The local files that models.clip (arch JSON, checkpoint) or models.diffusion (folder) name, as inputs
    of the rules that load them: a model made by a rule (the toy models, under results_dir) is waited for, a
    local one re-runs its users when it changes. Hub names and built-in tiny names: nothing."""
    from air_core.workflow_checks import made_by_workflow

    spec = config["models"][kind]
    paths = [spec["arch"], spec.get("pretrained")] if kind == "clip" else [spec["id"]]
    return [os.path.normpath(p) for p in paths if p and (made_by_workflow(p, R) or os.path.exists(p))]


def lora_weights(wildcards):
    """The LoRA-tuned variant needs the adapter; the plain-SD variant (table 3) does not."""
    if wildcards.variant == "lora":
        return f"{R}/{wildcards.d}/lora/pytorch_lora_weights.safetensors"
    return []


def shard_indexes(wildcards):
    n = config["generate"]["shards"]
    return [f"{R}/{wildcards.d}/synthetic/{wildcards.variant}/shard{i}.parquet" for i in range(n)]


def run_recipe(method):
    """A method's entry as its runs see it: where it runs (paradigms, prompts) is the grid's business, so
    narrowing a recipe re-runs none of its runs."""
    return {"name": method, **{k: v for k, v in METHODS[method].items() if k not in ("paradigms", "prompts")}}


def synthetic_inputs(wildcards):
    """Synthetic features (prototypes are re-selected from them), only for recipes that read synthetic
    images; visual prompts also need the shard tables, which hold the images' paths. A recipe with
    real prototypes and no synthetic loss depends on no diffusion output."""
    recipe = METHODS[wildcards.method]
    if not synthetic_needed(recipe):
        return {}
    base = f"{R}/{wildcards.d}/synthetic/{recipe['synthetic']}"
    inputs = {"synthetic_features": f"{base}/features.parquet"}
    if wildcards.prompt == "visual":
        inputs["synthetic_shards"] = [f"{base}/shard{i}.parquet" for i in range(config["generate"]["shards"])]
    return inputs


def synthetic_variants():
    """The SD variants (lora, base) some recipe reads synthetic images from."""
    return sorted({m.get("synthetic", "lora") for m in METHODS.values() if synthetic_needed(m)})


def diffusion_targets():
    return [f"{R}/{d}/synthetic/{v}/prototypes.png" for d in DATASETS for v in synthetic_variants()]


def run_metrics(datasets=None):
    """Every run's metrics: per dataset and seed, each (paradigm, prompt, method) of the grid a recipe runs on."""
    return [f"{RUN}/metrics.parquet".format(d=d, paradigm=paradigm, prompt=prompt, method=method, seed=seed)
            for d in (DATASETS if datasets is None else datasets) for paradigm, prompt, method in GRID
            for seed in SEEDS]


def method_seeds(wildcards):
    """Every run of one (dataset, paradigm, prompt): (method, seed) pairs."""
    return [(m, s) for m in methods_at(METHODS, wildcards.paradigm, wildcards.prompt) for s in SEEDS]


def confident_accuracy_tables(wildcards):
    """The confident-pseudo-label tables of every run of one (dataset, paradigm, prompt)."""
    return [f"{RUN}/confident_accuracy.parquet".format(d=wildcards.d, paradigm=wildcards.paradigm,
                                                       prompt=wildcards.prompt, method=m, seed=s)
            for m, s in method_seeds(wildcards)]
