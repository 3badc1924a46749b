# AiR: augmenting discriminative richness via diffusions, for unsupervised prompt learning of CLIP.
# The table of contents: config, helpers, the stages, and the targets.

from snakemake.utils import min_version

min_version("9.0")  # pyproject.toml: snakemake>=9.0


report: "report/workflow.rst"


# config/config.yaml is the default experiment; `--configfile other.yaml` replaces it (not merges).
if not config:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/data.smk"
include: "rules/diffusion.smk"
include: "rules/prompts.smk"
include: "rules/aggregate.smk"
include: "rules/report.smk"
include: "rules/toy.smk"


rule all:
    default_target: True
    input:
        RESULTS_TABLE,
        REPORT_TARGETS,


rule diffusion:
    """Partial target: LoRA, synthetic images and prototypes of every dataset."""
    input:
        diffusion_targets(),


# One dataset's targets, e.g. `snakemake dataset_flowers102`: its diffusion stage, every run, its figures.
for _d in DATASETS:

    rule:
        name:
            f"dataset_{_d}"
        input:
            [t for t in diffusion_targets() + run_metrics([_d]) + REPORT_TARGETS if t.startswith(f"{R}/{_d}/")],
