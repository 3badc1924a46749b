# Data: the dataset on disk -> manifest -> frozen CLIP features -> zero-shot probabilities.

from air_core.datasets_config import manifest_settings



# Cheap CPU work: on a cluster these run on the submit host, not through the queue.
localrules:
    draw_shapes,
    manifest,

rule draw_shapes:
    """Draw the procedural shapes dataset (the demo's and the tests' data)."""
    output:
        directory(f"{R}/{{d}}/source"),
    params:
        script=f"{SCRIPTS}/draw_shapes.py",
        dataset=lambda w: as_json({"name": w.d, "layout": "shapes", "shapes": config["datasets"][w.d]["shapes"]}),
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/draw_shapes/{{d}}.log",
    benchmark:
        f"{BENCH}/draw_shapes/{{d}}.tsv"
    shell:
        "python {params.script} --dataset {params.dataset:q} --out {output} > {log} 2>&1"


rule manifest:
    """Read the dataset's on-disk layout into the manifest and the class table; leave out unreadable images."""
    input:
        source=dataset_source,
    output:
        manifest=f"{R}/{{d}}/data/manifest.parquet",
        classes=f"{R}/{{d}}/data/classes.parquet",
        skipped=f"{R}/{{d}}/data/skipped_images.parquet",
    params:
        script=f"{SCRIPTS}/manifest.py",
        dataset=lambda w: as_json(manifest_settings(w.d, config["datasets"][w.d])),
    threads: max(THREADS, 4)  # opening every image is I/O-bound
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/manifest/{{d}}.log",
    benchmark:
        f"{BENCH}/manifest/{{d}}.tsv"
    shell:
        "python {params.script} --dataset {params.dataset:q} --source '{input.source}' --threads {threads} "
        "--manifest {output.manifest} --classes {output.classes} --skipped {output.skipped} > {log} 2>&1"


rule encode_real:
    """Frozen CLIP image features of every real image, computed once per dataset."""
    input:
        manifest=rules.manifest.output.manifest,
        clip_files=model_inputs("clip"),
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
        clip_files=model_inputs("clip"),
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
    benchmark:
        f"{BENCH}/zero_shot/{{d}}.tsv"
    shell:
        "python {params.script} --clip {params.clip:q} --manifest {input.manifest} "
        "--classes {input.classes} --features {input.features} --template {params.template:q} "
        "--description {params.description:q} --top-k {params.top_k} --threads {threads} "
        "--probs {output.probs} --text-features {output.text_features} --lora-set {output.lora_set} > {log} 2>&1"
