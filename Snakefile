# AiR: augmenting discriminative richness via diffusions, for unsupervised prompt learning of CLIP.
# The table of contents: config, helpers, the stages, and the targets.

from snakemake.utils import min_version

min_version("8.0")


# config/config.yaml is the default experiment; `--configfile other.yaml` replaces it (not merges).
if not config:

    configfile: "config/config.yaml"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/diffusion.smk"
include: "rules/prompts.smk"
include: "rules/aggregate.smk"


rule all:
    input:
        RESULTS_TABLE,
    default_target: True


rule diffusion:
    """Partial target: LoRA, synthetic images and prototypes of every dataset."""
    input:
        diffusion_targets(),
