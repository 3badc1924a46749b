# Diffusion, once per dataset and SD variant (sd_variants), shared by every run that reads the variant:
# LoRA on the top-K zero-shot set, M images per class in class shards, one prototype per class (eq. 6).


rule train_lora:
    """Fine-tune SD's UNet with LoRA on the variant's top-K zero-shot pseudo-labelled images (eq. 2-4)."""
    input:
        manifest=rules.manifest.output.manifest,
        classes=rules.manifest.output.classes,
        probs=rules.zero_shot.output.probs,
        sd_files=model_inputs("diffusion"),
    output:
        weights=f"{R}/{{d}}/lora/{{variant}}/pytorch_lora_weights.safetensors",
        lora_set=f"{R}/{{d}}/lora/{{variant}}/lora_set.parquet",
        loss=f"{R}/{{d}}/lora/{{variant}}/loss.parquet",
    log:
        f"{LOGS}/train_lora/{{d}}_{{variant}}.log",
    benchmark:
        f"{BENCH}/train_lora/{{d}}_{{variant}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: THREADS
    resources:
        gpu=1,
        device=DEVICE,
        torch_threads=TORCH_THREADS,
    params:
        diffusion=verbatim_json(EXP.diffusion),
        precision=EXP.diffusion_precision,
        lora=lambda w: to_json(EXP.sd_variants[w.variant].lora),
        description=lambda w: EXP.datasets[w.d].description,
    shell:
        'python "$AIR_SCRIPTS/train_lora.py" --diffusion {params.diffusion:q} --lora={params.lora:q} '
        "--description={params.description:q} --manifest {input.manifest:q} --classes {input.classes:q} "
        "--probs {input.probs:q} --precision {params.precision:q} --device {resources.device:q} "
        "--threads {resources.torch_threads} --weights {output.weights:q} --lora-set {output.lora_set:q} "
        "--loss {output.loss:q} > {log:q} 2>&1"


rule generate:
    """M synthetic images for one shard of the classes (eq. 5), a seed per image."""
    input:
        classes=rules.manifest.output.classes,
        lora=lora_weights,
        sd_files=model_inputs("diffusion"),
    output:
        index=f"{R}/{{d}}/synthetic/{{variant}}/shard{{shard}}.parquet",
        images=directory(f"{R}/{{d}}/synthetic/{{variant}}/shard{{shard}}"),
    log:
        f"{LOGS}/generate/{{d}}_{{variant}}_shard{{shard}}.log",
    benchmark:
        f"{BENCH}/generate/{{d}}_{{variant}}_shard{{shard}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: THREADS
    resources:
        gpu=1,
        device=DEVICE,
        torch_threads=TORCH_THREADS,
        batch_size=EXP.generate_batch_size,  # images per pipeline call: each image has its own seed
    params:
        diffusion=verbatim_json(EXP.diffusion),
        precision=EXP.diffusion_precision,
        generate=lambda w: to_json(EXP.sd_variants[w.variant].generate),
        shards=EXP.generate_shards,  # which classes a shard makes: the shard's files depend on it
        description=lambda w: EXP.datasets[w.d].description,
        lora=lambda w, input: input.lora or "",
    shell:
        'python "$AIR_SCRIPTS/generate.py" --diffusion {params.diffusion:q} --generate {params.generate:q} '
        "--shards {params.shards} --shard {wildcards.shard} --variant {wildcards.variant:q} "
        "--description={params.description:q} --classes {input.classes:q} --lora={params.lora:q} "
        "--precision {params.precision:q} --device {resources.device:q} --threads {resources.torch_threads} "
        "--batch-size {resources.batch_size} --images {output.images:q} --index {output.index:q} > {log:q} 2>&1"


rule select:
    """CLIP features of every synthetic image and the most representative one per class (eq. 6)."""
    input:
        shards=shard_indexes,
        classes=rules.manifest.output.classes,
        text_features=rules.zero_shot.output.text_features,
        clip_files=model_inputs("clip"),
    output:
        features=f"{R}/{{d}}/synthetic/{{variant}}/features.parquet",
        prototypes=f"{R}/{{d}}/synthetic/{{variant}}/prototypes.parquet",
        grid=f"{R}/{{d}}/synthetic/{{variant}}/prototypes.png",
    log:
        f"{LOGS}/select/{{d}}_{{variant}}.log",
    benchmark:
        f"{BENCH}/select/{{d}}_{{variant}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: THREADS
    resources:
        gpu=1,
        device=DEVICE,
        torch_threads=TORCH_THREADS,
        batch_size=EXP.encode_batch_size,
    params:
        clip=verbatim_json(EXP.clip),
    shell:
        'python "$AIR_SCRIPTS/select_prototypes.py" --clip {params.clip:q} --shards {input.shards:q} --classes {input.classes:q} '
        "--text-features {input.text_features:q} --batch-size {resources.batch_size} "
        "--device {resources.device:q} --threads {resources.torch_threads} --features {output.features:q} "
        "--prototypes {output.prototypes:q} --grid {output.grid:q} > {log:q} 2>&1"
