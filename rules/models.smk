# Models are read from local caches only. fetch_models fills them where there is network
# (a login node); every other job runs with HF_HUB_OFFLINE=1.


localrules:
    fetch_models,


rule fetch_models:
    """Download the config's CLIP and Stable Diffusion into the local caches (needs network)."""
    output:
        f"{R}/models/fetched.json",
    log:
        f"{LOGS}/fetch_models/fetch_models.log",
    benchmark:
        f"{BENCH}/fetch_models/fetch_models.tsv"
    conda:
        "../envs/air.yaml"
    params:
        clip=verbatim_json(EXP.clip),
        diffusion=verbatim_json(EXP.diffusion),
    shell:
        "HF_HUB_OFFLINE=0 python -m air_core.cli fetch-models --clip {params.clip:q} "
        "--diffusion {params.diffusion:q} --out {output:q} > {log:q} 2>&1"


onstart:
    stop_if_models_missing(EXP, workflow.dag, workflow.local_exec)
    claim_results_dir(R)  # the marker, before the first job writes an artifact (a dry run writes nothing)
    lock_results_dir(R)  # held by this process until it ends: a second workflow writing here is refused
