# Data: the dataset on disk -> manifest -> frozen CLIP features -> zero-shot probabilities.


rule draw_shapes:
    """Draw the procedural shapes dataset (the demo's and the tests' data)."""
    output:
        directory(f"{R}/{{d}}/source"),
    params:
        script=f"{SCRIPTS}/draw_shapes.py",
        dataset=dataset_settings,
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/draw_shapes/{{d}}.log",
    shell:
        "python {params.script} --dataset {params.dataset:q} --out {output} > {log} 2>&1"


rule manifest:
    """Read the dataset's on-disk layout into the manifest and the class table."""
    input:
        source=dataset_source,
    output:
        manifest=f"{R}/{{d}}/data/manifest.parquet",
        classes=f"{R}/{{d}}/data/classes.parquet",
    params:
        script=f"{SCRIPTS}/manifest.py",
        dataset=dataset_settings,
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/manifest/{{d}}.log",
    shell:
        "python {params.script} --dataset {params.dataset:q} --source '{input.source}' "
        "--manifest {output.manifest} --classes {output.classes} > {log} 2>&1"


rule encode_real:
    """Frozen CLIP image features of every real image, computed once per dataset."""
    input:
        manifest=rules.manifest.output.manifest,
    output:
        features=f"{R}/{{d}}/features/real.parquet",
    params:
        script=f"{SCRIPTS}/encode_real.py",
        device=config["device"],
        clip=as_json(config["models"]["clip"]),
        batch_size=config["encode"]["batch_size"],
    resources:
        gpu=1,
    threads: THREADS
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/encode_real/{{d}}.log",
    benchmark:
        f"{BENCH}/encode_real/{{d}}.tsv"
    shell:
        "python {params.script} --clip {params.clip:q} --manifest {input.manifest} "
        "--batch-size {params.batch_size} --device {params.device} --threads {threads} "
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
        script=f"{SCRIPTS}/zero_shot.py",
        clip=as_json(config["models"]["clip"]),
        template=config["prompt_template"],
        description=lambda w: config["datasets"][w.d]["description"],
        top_k=config["lora"]["top_k"],
    threads: THREADS
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/zero_shot/{{d}}.log",
    shell:
        "python {params.script} --clip {params.clip:q} --manifest {input.manifest} "
        "--classes {input.classes} --features {input.features} --template {params.template:q} "
        "--description {params.description:q} --top-k {params.top_k} --threads {threads} "
        "--probs {output.probs} --text-features {output.text_features} --lora-set {output.lora_set} > {log} 2>&1"
