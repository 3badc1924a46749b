# Helpers, validation and target lists. No stage logic lives here.

import json
import os
from pathlib import Path

from snakemake.utils import validate

from air_core.workflow_checks import check_config, check_config_schema

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
    if config["datasets"][wildcards.d]["layout"] == "shapes":
        return f"{R}/{wildcards.d}/source"
    return []


def lora_weights(wildcards):
    """The LoRA-tuned variant needs the adapter; the plain-SD variant (table 3) does not."""
    if wildcards.variant == "lora":
        return f"{R}/{wildcards.d}/lora/pytorch_lora_weights.safetensors"
    return []


def shard_indexes(wildcards):
    n = config["generate"]["shards"]
    return [f"{R}/{wildcards.d}/synthetic/{wildcards.variant}/shard{i}.parquet" for i in range(n)]


def synthetic_inputs(wildcards):
    """Prototypes and synthetic features, only for recipes that use them."""
    recipe = METHODS[wildcards.method]
    if recipe["fusion_lambda"] == 0 and recipe["synthetic_beta"] == 0:
        return {}
    base = f"{R}/{wildcards.d}/synthetic/{recipe['synthetic']}"
    return {"prototypes": f"{base}/prototypes.parquet", "synthetic_features": f"{base}/features.parquet"}


def synthetic_variants():
    return sorted({m["synthetic"] for m in METHODS.values() if m["fusion_lambda"] > 0 or m["synthetic_beta"] > 0})


def diffusion_targets():
    return [f"{R}/{d}/synthetic/{v}/prototypes.png" for d in DATASETS for v in synthetic_variants()]


def run_metrics():
    return expand(f"{RUN}/metrics.parquet", d=DATASETS, paradigm=config["paradigms"], prompt=config["prompts"],
                  method=list(METHODS), seed=SEEDS)
