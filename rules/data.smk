# Data: the dataset on disk -> manifest -> frozen CLIP features -> zero-shot probabilities.

from air_core.datasets_config import DataSource


# Cheap CPU work: on a cluster these run on the submit host, not through the queue.
localrules:
    draw_shapes,
    manifest,


rule draw_shapes:
    """Draw the procedural shapes dataset (the tests' data)."""
    output:
        directory(f"{R}/{{d}}/source"),
    log:
        f"{LOGS}/draw_shapes/{{d}}.log",
    benchmark:
        f"{BENCH}/draw_shapes/{{d}}.tsv"
    conda:
        "../envs/air.yaml"
    params:
        shapes=lambda w: to_json(EXP.datasets[w.d].shapes),
    shell:
        'python "$AIR_SCRIPTS/draw_shapes.py" --shapes {params.shapes:q} --out {output:q} > {log:q} 2>&1'


rule manifest:
    """Read the dataset's on-disk layout into the manifest and the class table; leave out unreadable images."""
    input:
        source=dataset_source,
    output:
        manifest=f"{R}/{{d}}/data/manifest.parquet",
        classes=f"{R}/{{d}}/data/classes.parquet",
        skipped=f"{R}/{{d}}/data/skipped_images.parquet",
    log:
        f"{LOGS}/manifest/{{d}}.log",
    benchmark:
        f"{BENCH}/manifest/{{d}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: 4  # opening every image is I/O-bound; the manifest does not depend on the thread count
    params:
        source=lambda w: to_json(DataSource.of(EXP.datasets[w.d])),  # only what changes the manifest
        drawn=lambda w, input: input.source or "",  # the folder when the workflow draws the dataset
    shell:
        'python "$AIR_SCRIPTS/manifest.py" --source {params.source:q} --drawn={params.drawn:q} --workers {threads} '
        "--manifest {output.manifest:q} --classes {output.classes:q} --skipped {output.skipped:q} > {log:q} 2>&1"


rule encode_real:
    """Frozen CLIP image features of every real image, computed once per dataset."""
    input:
        manifest=rules.manifest.output.manifest,
        clip_files=model_inputs("clip"),
    output:
        features=f"{R}/{{d}}/features/real.parquet",
    log:
        f"{LOGS}/encode_real/{{d}}.log",
    benchmark:
        f"{BENCH}/encode_real/{{d}}.tsv"
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
        'python "$AIR_SCRIPTS/encode_real.py" --clip {params.clip:q} --manifest {input.manifest:q} '
        "--batch-size {resources.batch_size} --device {resources.device:q} --threads {resources.torch_threads} "
        "--out {output.features:q} > {log:q} 2>&1"


rule zero_shot:
    """Zero-shot probabilities (eq. 1) of every image and the text classifier "a photo of a {class}"; also the
    text features of f"{template}{class}", menghini's round-0 string (recipes with round0_template: concat)."""
    input:
        manifest=rules.manifest.output.manifest,
        classes=rules.manifest.output.classes,
        features=rules.encode_real.output.features,
        clip_files=model_inputs("clip"),
    output:
        probs=f"{R}/{{d}}/zero_shot/probs.parquet",
        text_features=f"{R}/{{d}}/zero_shot/text_features.safetensors",
        text_features_concat=f"{R}/{{d}}/zero_shot/text_features_concat.safetensors",
    log:
        f"{LOGS}/zero_shot/{{d}}.log",
    benchmark:
        f"{BENCH}/zero_shot/{{d}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: THREADS
    resources:
        torch_threads=TORCH_THREADS,
    params:
        clip=verbatim_json(EXP.clip),
        template=verbatim(EXP.prompt_template),
    shell:
        'python "$AIR_SCRIPTS/zero_shot.py" --clip {params.clip:q} --template={params.template:q} '
        "--manifest {input.manifest:q} --classes {input.classes:q} --features {input.features:q} "
        "--threads {resources.torch_threads} --probs {output.probs:q} --text-features {output.text_features:q} "
        "--text-features-concat {output.text_features_concat:q} > {log:q} 2>&1"
