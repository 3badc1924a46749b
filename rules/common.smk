# The experiment, resolved once, and the helpers and target lists the rules plan from. No stage logic here.
#
# Rule params carry exactly what changes a rule's outputs (Snakemake re-runs a job when its params change).
# How a job runs, not what it writes, is a resource instead, which is no rerun trigger: the device, the
# torch threads and the batch sizes of inference. Every path and setting reaches the shell quoted (:q).

import os
import re

from air_core.config import to_json
from air_core.experiment import STUDY_CELL, load_experiment
from air_core.preflight import stop_if_models_missing
from air_core.results_dir import check_results_dir, claim_results_dir
from air_core.results_lock import lock_results_dir

# Jobs never download: models come from the local caches (rule fetch_models fills them).
os.environ["HF_HUB_OFFLINE"] = "1"


envvars:
    "HF_HUB_OFFLINE",


EXP = load_experiment(config, workflow.configfiles, os.path.join(workflow.basedir, "config", "datasets"))
R = EXP.results_dir
check_results_dir(R)  # another project's folder stops the run here, before anything is written
DATASETS = list(EXP.datasets)
SEEDS = list(EXP.seeds)
LOGS = f"{R}/logs"
BENCH = f"{R}/benchmarks"
RUN = f"{R}/{{d}}/runs/{{paradigm}}/{{prompt}}/{{method}}/seed{{seed}}"
RESULTS_TABLE = f"{R}/tables/results.parquet"
# The rules' scripts, from any --directory. An environment variable, not a param or a path in the command: a
# moved checkout changes neither, so it re-runs nothing. Snakemake passes it to every job (local or SLURM).
os.environ["AIR_SCRIPTS"] = os.path.join(workflow.basedir, "workflow_scripts")
os.environ["AIR_WORKFLOW"] = workflow.basedir


envvars:
    "AIR_SCRIPTS",
    "AIR_WORKFLOW",


# Every job's python imports air_core from this checkout, whatever environment runs it: the project need not
# be installed (envs/air.yaml holds the third-party packages only). Set in the command, not the environment:
# under --sdm conda Snakemake deletes PYTHONPATH from a job's environment, so that packages from outside
# stay out of the conda environment; the checkout goes in again here, ahead of any installed air_core.
# (A shell prefix replaces Snakemake's default one, so it starts with that: set -euo pipefail.)
shell.prefix('set -euo pipefail; export PYTHONPATH="$AIR_WORKFLOW${{PYTHONPATH:+:$PYTHONPATH}}"; ')


# Torch threads of a job: a fixed count (threads > 0) is set by the script whatever --cores gives the job,
# so a job's numbers do not depend on the machine; 0 leaves torch its default, the cores Snakemake gives
# the job (OMP_NUM_THREADS), and schedules it on every core.
TORCH_THREADS = EXP.threads


def all_cores():
    """--cores, or 1 where it is not set (a cluster executor: the profile's set-threads decide there)."""
    try:
        return workflow.cores
    except Exception:  # Snakemake raises when the run has no core count
        return 1


THREADS = EXP.threads if EXP.threads > 0 else all_cores()
DEVICE = EXP.device


wildcard_constraints:
    d="|".join(map(re.escape, DATASETS)),
    method="|".join(map(re.escape, EXP.methods)),
    variant="|".join(map(re.escape, EXP.sd_variants)),
    shard=r"\d+",
    seed=r"\d+",
    paradigm="ul|ssl|trzsl",
    prompt="text|visual",


def verbatim(value):
    """A param that Snakemake passes as it is. A plain string param is a pattern to Snakemake, which
    replaces each '{name}' in it by a wildcard (a prompt template's '{d}' by the dataset) or stops with a
    bare WildcardError; the value of a function is not formatted. Every param made of config text uses it."""
    return lambda wildcards: value


def verbatim_json(obj):
    """``to_json(obj)`` as a verbatim param: the JSON of a config part holds the config's strings."""
    return verbatim(to_json(obj))


def dataset_source(wildcards):
    """The drawn dataset's folder when the workflow makes the dataset, else nothing."""
    ds = EXP.datasets[wildcards.d]
    if ds.layout == "shapes":
        return f"{R}/{wildcards.d}/source"
    if EXP.made_by_workflow(ds.root):  # a root the workflow draws (the toy world target dataset)
        return os.path.normpath(ds.root)
    return []


def model_inputs(kind):
    """The local files that models.clip (arch JSON, checkpoint) or models.diffusion (folder) name, as inputs
    of the rules that load them: a model made by a rule (the toy models, under results_dir) is waited for, a
    local one re-runs its users when it changes. Hub names and built-in tiny names: nothing."""
    paths = [EXP.clip.arch, EXP.clip.pretrained] if kind == "clip" else [EXP.diffusion.id]
    return [os.path.normpath(p) for p in paths if p and (EXP.made_by_workflow(p) or os.path.exists(p))]


def lora_weights(wildcards):
    """A variant with a LoRA needs its adapter; plain SD (table 3's row without LoRA) does not."""
    if EXP.sd_variants[wildcards.variant].lora is None:
        return []
    return f"{R}/{wildcards.d}/lora/{wildcards.variant}/pytorch_lora_weights.safetensors"


def shard_indexes(wildcards):
    return [f"{R}/{wildcards.d}/synthetic/{wildcards.variant}/shard{i}.parquet" for i in range(EXP.generate_shards)]


def run_recipe(wildcards):
    """The resolved recipe of one run, as its params: what it computes, not where it runs or how tables name it."""
    return EXP.recipe(wildcards.method, wildcards.d, wildcards.paradigm, wildcards.prompt)


def synthetic_inputs(wildcards):
    """Synthetic features (prototypes are re-selected from them), only for recipes that read synthetic
    images; visual prompts also need the shard tables, which hold the images' paths. A recipe with
    real prototypes and no synthetic loss depends on no diffusion output."""
    recipe = run_recipe(wildcards)
    if not recipe.reads_synthetic:
        return {}
    base = f"{R}/{wildcards.d}/synthetic/{recipe.synthetic}"
    inputs = {"synthetic_features": f"{base}/features.parquet"}
    if wildcards.prompt == "visual":
        inputs["synthetic_shards"] = [f"{base}/shard{i}.parquet" for i in range(EXP.generate_shards)]
    return inputs


def diffusion_targets():
    return [f"{R}/{d}/synthetic/{v}/prototypes.png" for d in DATASETS for v in EXP.variants_read(d)]


def run_metrics(datasets=None, cell=None):
    """Every run's metrics (of ``datasets`` only, and of one (paradigm, prompt) ``cell`` only, when given)."""
    return [
        f"{RUN}/metrics.parquet".format(d=r.dataset, paradigm=r.paradigm, prompt=r.prompt, method=r.method, seed=r.seed)
        for r in EXP.runs(datasets)
        if cell is None or (r.paradigm, r.prompt) == tuple(cell)
    ]


def method_seeds(wildcards):
    """Every run of one (dataset, paradigm, prompt): (method, seed) pairs."""
    return [(m, s) for m in EXP.methods_at(wildcards.paradigm, wildcards.prompt, wildcards.d) for s in SEEDS]


def confident_accuracy_tables(wildcards):
    """The confident-pseudo-label tables of every run of one (dataset, paradigm, prompt)."""
    return [
        f"{RUN}/confident_accuracy.parquet".format(
            d=wildcards.d, paradigm=wildcards.paradigm, prompt=wildcards.prompt, method=m, seed=s
        )
        for m, s in method_seeds(wildcards)
    ]


# The report's figures (rules/report.smk).


def tsne_prototypes(wildcards):
    """The prototypes drawn beside the real and text embeddings: the lora variant's when made, else the first read."""
    variants = EXP.variants_read(wildcards.d)
    variant = "lora" if "lora" in variants else next(iter(variants), None)
    return [f"{R}/{wildcards.d}/synthetic/{variant}/prototypes.parquet"] if variant else []


def shown_lambda(d):
    """Eq. 7's lambda of the first recipe on ``d`` that fuses synthetic prototypes (AiR's): the figures' fusion."""
    for _, _, method in EXP.grid(d):
        recipe = EXP.methods[method].recipe(EXP.datasets[d])
        if recipe.fuses and recipe.prototypes == "synthetic":
            return recipe.fusion_lambda
    return 0.0


def has_studies(d):
    """A sweep, or AiR on CPL with more than one SD variant, ran on ``d`` (UL, text): fig. 3's figure is drawn."""
    summary = EXP.method_summary()
    ran = list(EXP.methods_at(*STUDY_CELL, d))
    variants = {
        summary[m]["synthetic"]
        for m in ran
        if summary[m]["base"] == "cpl"
        and not summary[m]["sweep_of"]
        and (summary[m]["fuses"] or summary[m]["synthetic_loss"])
    }
    return any(summary[m]["sweep_of"] for m in ran) or len(variants) > 1


def lora_variants(d):
    return [v for v in EXP.variants_read(d) if EXP.sd_variants[v].lora is not None]
