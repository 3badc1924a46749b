# Data: the dataset on disk -> manifest -> frozen CLIP features -> zero-shot probabilities.


rule draw_shapes:
    """Draw the procedural shapes dataset (the demo's and the tests' data)."""
    output:
        directory(f"{R}/{{d}}/source"),
    params:
        dataset=dataset_settings,
    log:
        f"{LOGS}/draw_shapes/{{d}}.log",
    shell:
        "python workflow_scripts/draw_shapes.py --dataset {params.dataset:q} --out {output} > {log} 2>&1"


rule manifest:
    """Read the dataset's on-disk layout into the manifest and the class table."""
    input:
        source=dataset_source,
    output:
        manifest=f"{R}/{{d}}/data/manifest.parquet",
        classes=f"{R}/{{d}}/data/classes.parquet",
    params:
        dataset=dataset_settings,
    log:
        f"{LOGS}/manifest/{{d}}.log",
    shell:
        "python workflow_scripts/manifest.py --dataset {params.dataset:q} --source '{input.source}' "
        "--manifest {output.manifest} --classes {output.classes} > {log} 2>&1"


rule encode_real:
    """Frozen CLIP image features of every real image, computed once per dataset."""
    input:
        manifest=rules.manifest.output.manifest,
    output:
        features=f"{R}/{{d}}/features/real.parquet",
    params:
        clip=as_json(config["models"]["clip"]),
        batch_size=config["encode"]["batch_size"],
    resources:
        gpu=1,
    log:
        f"{LOGS}/encode_real/{{d}}.log",
    benchmark:
        f"{BENCH}/encode_real/{{d}}.tsv"
    shell:
        "python workflow_scripts/encode_real.py --clip {params.clip:q} --manifest {input.manifest} "
        "--batch-size {params.batch_size} --device {config[device]} --threads {config[threads]} "
        "--out {output.features} > {log} 2>&1"


rule zero_shot:
    """Zero-shot probabilities (eq. 1) and the top-K per class set that LoRA trains on (eq. 2-3)."""
    input:
        manifest=rules.manifest.output.manifest,
        classes=rules.manifest.output.classes,
        features=rules.encode_real.output.features,
    output:
        probs=f"{R}/{{d}}/zero_shot/probs.parquet",
        text_features=f"{R}/{{d}}/zero_shot/text_features.safetensors",
        lora_set=f"{R}/{{d}}/zero_shot/lora_set.parquet",
    params:
        clip=as_json(config["models"]["clip"]),
        template=config["prompt_template"],
        description=lambda w: config["datasets"][w.d]["description"],
        top_k=config["lora"]["top_k"],
    log:
        f"{LOGS}/zero_shot/{{d}}.log",
    shell:
        "python workflow_scripts/zero_shot.py --clip {params.clip:q} --manifest {input.manifest} "
        "--classes {input.classes} --features {input.features} --template {params.template:q} "
        "--description {params.description:q} --top-k {params.top_k} --threads {config[threads]} "
        "--probs {output.probs} --text-features {output.text_features} --lora-set {output.lora_set} > {log} 2>&1"
