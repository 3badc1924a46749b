# The toy world (docs/toy_world.md), active when the config has `toy_world`: a drawn source world and a
# shifted target dataset, a toy CLIP and a toy Stable Diffusion pretrained on the source world with fixed
# step and thread counts, and the demo's side-by-side table. The models are saved in open_clip's and
# diffusers' formats at the paths that models.clip and models.diffusion name, so every stage loads them
# with the usual loaders and waits for them (model_inputs in common.smk); the target dataset is an
# imagefolder entry of `datasets` whose root is this file's target folder (dataset_source in common.smk).

if EXP.toy_world:
    TOY = os.path.normpath(f"{R}/toy")
    TOY_CONFIG = EXP.toy_world
    TOY_TARGET = f"{TOY}/target"
    # Dataset entries that read the toy target: the demo's table is made for each.
    TOY_DATASETS = [d for d in DATASETS if os.path.normpath(str(EXP.datasets[d].root)) == TOY_TARGET]
    VAE_KEYS = ("seed", "unet_images_per_class")  # with vae_*: the settings rule toy_vae depends on

    # Cheap: on a cluster the table is written on the submit host.
    localrules:
        toy_report,

    rule toy_world:
        """Draw the source world and the shifted target dataset in the image-folder layout."""
        output:
            source=directory(f"{TOY}/source"),
            target=directory(TOY_TARGET),
        log:
            f"{LOGS}/toy_world/toy_world.log",
        benchmark:
            f"{BENCH}/toy_world/toy_world.tsv"
        conda:
            "../envs/air.yaml"
        threads: max(2, TOY_CONFIG["threads"])  # drawing processes; the images do not depend on them
        params:
            world=verbatim_json(TOY_CONFIG["world"]),
        shell:
            'python "$AIR_SCRIPTS/toy_world.py" --world {params.world:q} --workers {threads} --source {output.source:q} '
            "--target {output.target:q} > {log:q} 2>&1"

    rule toy_clip:
        """Pretrain the toy CLIP on the source world: open_clip model config + safetensors checkpoint."""
        input:
            source=rules.toy_world.output.source,
        output:
            model_config=f"{TOY}/clip/toy-clip.json",
            checkpoint=f"{TOY}/clip/toy-clip.safetensors",
            history=f"{TOY}/clip/history.parquet",
            summary=f"{TOY}/clip/summary.json",
        log:
            f"{LOGS}/toy_clip/toy_clip.log",
        benchmark:
            f"{BENCH}/toy_clip/toy_clip.tsv"
        conda:
            "../envs/air.yaml"
        threads: TOY_CONFIG["threads"]
        params:
            clip=verbatim_json(TOY_CONFIG["clip"]),
            threads=TOY_CONFIG["threads"],  # fixed torch threads, whatever --cores gives the job
        shell:
            'python "$AIR_SCRIPTS/toy_clip.py" --clip {params.clip:q} --source {input.source:q} --threads {params.threads} '
            "--model-config {output.model_config:q} --checkpoint {output.checkpoint:q} --history {output.history:q} "
            "--summary {output.summary:q} > {log:q} 2>&1"

    rule toy_vae:
        """Pretrain the toy SD's VAE on the source world (beside the toy CLIP); keep every image's latents."""
        input:
            source=rules.toy_world.output.source,
        output:
            vae=directory(f"{TOY}/vae"),
            latents=f"{TOY}/vae_latents.safetensors",
            history=f"{TOY}/vae_history.parquet",
        log:
            f"{LOGS}/toy_vae/toy_vae.log",
        benchmark:
            f"{BENCH}/toy_vae/toy_vae.tsv"
        conda:
            "../envs/air.yaml"
        threads: TOY_CONFIG["threads"]
        params:
            sd=verbatim_json({k: v for k, v in TOY_CONFIG["sd"].items() if k.startswith("vae_") or k in VAE_KEYS}),
            threads=TOY_CONFIG["threads"],
        shell:
            'python "$AIR_SCRIPTS/toy_vae.py" --sd {params.sd:q} --source {input.source:q} --threads {params.threads} '
            "--vae {output.vae:q} --latents {output.latents:q} --history {output.history:q} > {log:q} 2>&1"

    rule toy_sd:
        """Pretrain the toy SD's UNet on the VAE's latents, conditioned on the toy CLIP's frozen text tower;
        the whole pipeline as a save_pretrained folder."""
        input:
            source=rules.toy_world.output.source,
            vae=rules.toy_vae.output.vae,
            latents=rules.toy_vae.output.latents,
            clip_config=rules.toy_clip.output.model_config,
            clip_checkpoint=rules.toy_clip.output.checkpoint,
        output:
            pipeline=directory(f"{TOY}/sd"),
            history=f"{TOY}/sd_history.parquet",
        log:
            f"{LOGS}/toy_sd/toy_sd.log",
        benchmark:
            f"{BENCH}/toy_sd/toy_sd.tsv"
        conda:
            "../envs/air.yaml"
        threads: TOY_CONFIG["threads"]
        params:
            sd=verbatim_json(TOY_CONFIG["sd"]),
            threads=TOY_CONFIG["threads"],
        shell:
            'python "$AIR_SCRIPTS/toy_sd.py" --sd {params.sd:q} --source {input.source:q} --vae {input.vae:q} '
            "--latents {input.latents:q} --clip-config {input.clip_config:q} --clip-checkpoint {input.clip_checkpoint:q} "
            "--threads {params.threads} --out {output.pipeline:q} --history {output.history:q} > {log:q} 2>&1"

    rule toy_report:
        """The demo's numbers side by side: zero-shot, SD class agreement, pseudo-label accuracy (and against
        lambda), final accuracies, and the comparisons as paired differences over seeds with 95 % intervals."""
        input:
            manifest=rules.manifest.output.manifest,
            features=rules.encode_real.output.features,
            text_features=rules.zero_shot.output.text_features,
            synthetic=[f"{R}/{{d}}/synthetic/{v}/features.parquet" for v in ("lora", "base")],
            metrics=lambda w: run_metrics([w.d]),
            clip_summary=rules.toy_clip.output.summary,
        output:
            table=f"{R}/tables/toy_world_{{d}}.parquet",
            markdown=f"{R}/tables/toy_world_{{d}}.md",
        log:
            f"{LOGS}/toy_report/{{d}}.log",
        benchmark:
            f"{BENCH}/toy_report/{{d}}.tsv"
        conda:
            "../envs/air.yaml"
        params:
            fusion_lambda=lambda w: shown_lambda(w.d),  # the table's fused rows use AiR's lambda, as the figures
            lambdas=TOY_CONFIG["report_lambdas"],
            methods=verbatim_json(EXP.method_summary()),  # the recipes' switches: which comparisons the table draws
        shell:
            'python "$AIR_SCRIPTS/toy_report.py" --dataset {wildcards.d} --manifest {input.manifest:q} --features {input.features:q} '
            "--text-features {input.text_features:q} --synthetic {input.synthetic:q} --metrics {input.metrics:q} "
            "--clip-summary {input.clip_summary:q} --fusion-lambda {params.fusion_lambda} --lambdas {params.lambdas} "
            "--methods {params.methods:q} --table {output.table:q} "
            "--markdown {output.markdown:q} > {log:q} 2>&1"

    # `rule all` asks for the report's targets; the demo's table is one of them.
    REPORT_TARGETS += expand(rules.toy_report.output.markdown, d=TOY_DATASETS)
