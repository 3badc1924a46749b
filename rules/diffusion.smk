# Diffusion, once per dataset and shared by every run: LoRA on the top-K set, M images per
# class in class shards, and one prototype per class (eq. 6).


rule train_lora:
    """Fine-tune SD's UNet with LoRA on the zero-shot pseudo-labelled set (eq. 4)."""
    input:
        lora_set=rules.zero_shot.output.lora_set,
        sd_files=model_inputs("diffusion"),
    output:
        weights=f"{R}/{{d}}/lora/pytorch_lora_weights.safetensors",
        loss=f"{R}/{{d}}/lora/loss.parquet",
    params:
        script=f"{SCRIPTS}/train_lora.py",
        device=config["device"],
        precision=config["diffusion_precision"],
        diffusion=as_json(config["models"]["diffusion"]),
        lora=as_json(config["lora"]),
    resources:
        gpu=1,
    threads: THREADS
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/train_lora/{{d}}.log",
    benchmark:
        f"{BENCH}/train_lora/{{d}}.tsv"
    shell:
        "python {params.script} --diffusion {params.diffusion:q} --lora {params.lora:q} "
        "--lora-set {input.lora_set} --device {params.device} --precision {params.precision} "
        "--threads {threads} --weights {output.weights} --loss {output.loss} > {log} 2>&1"


rule generate:
    """M synthetic images for one shard of the classes (eq. 5), a seed per image."""
    input:
        classes=rules.manifest.output.classes,
        lora=lora_weights,
        sd_files=model_inputs("diffusion"),
    output:
        index=f"{R}/{{d}}/synthetic/{{variant}}/shard{{shard}}.parquet",
        images=directory(f"{R}/{{d}}/synthetic/{{variant}}/shard{{shard}}"),
    params:
        script=f"{SCRIPTS}/generate.py",
        device=config["device"],
        precision=config["diffusion_precision"],
        diffusion=as_json(config["models"]["diffusion"]),
        generate=as_json(config["generate"]),
        description=lambda w: config["datasets"][w.d]["description"],
    resources:
        gpu=1,
    threads: THREADS
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/generate/{{d}}_{{variant}}_shard{{shard}}.log",
    benchmark:
        f"{BENCH}/generate/{{d}}_{{variant}}_shard{{shard}}.tsv"
    shell:
        "python {params.script} --diffusion {params.diffusion:q} --generate {params.generate:q} "
        "--classes {input.classes} --lora '{input.lora}' --description {params.description:q} "
        "--variant {wildcards.variant} --shard {wildcards.shard} --device {params.device} "
        "--precision {params.precision} "
        "--threads {threads} --images {output.images} --index {output.index} > {log} 2>&1"


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
    params:
        script=f"{SCRIPTS}/select_prototypes.py",
        device=config["device"],
        clip=as_json(config["models"]["clip"]),
        batch_size=config["encode"]["batch_size"],
    resources:
        gpu=1,
    threads: THREADS
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/select/{{d}}_{{variant}}.log",
    benchmark:
        f"{BENCH}/select/{{d}}_{{variant}}.tsv"
    shell:
        "python {params.script} --clip {params.clip:q} --shards {input.shards} "
        "--classes {input.classes} --text-features {input.text_features} --batch-size {params.batch_size} "
        "--device {params.device} --threads {threads} --features {output.features} "
        "--prototypes {output.prototypes} --grid {output.grid} > {log} 2>&1"
