# Per run (dataset, paradigm, prompt, method, seed): iterative prompt training, then evaluation.
# A method is a recipe in config (methods.<name>); its run's params are the recipe resolved for the run
# (air_core.recipes: the base method's reference settings, the dataset's CPL thresholds, the recipe's keys),
# which the run records in settings.json.


rule train_prompts:
    """Relabel (FPL/GRIP/CPL, fused with the prototypes when the recipe uses them) and train the prompt."""
    input:
        unpack(synthetic_inputs),
        manifest=rules.manifest.output.manifest,
        features=rules.encode_real.output.features,
        text_features=rules.zero_shot.output.text_features,
        text_features_concat=rules.zero_shot.output.text_features_concat,
        clip_files=model_inputs("clip"),
    output:
        prompt=f"{RUN}/prompt.safetensors",
        classifier=f"{RUN}/classifier.safetensors",
        split=f"{RUN}/split.parquet",
        pseudo_labels=f"{RUN}/pseudo_labels.parquet",
        confident_accuracy=f"{RUN}/confident_accuracy.parquet",
        history=f"{RUN}/history.parquet",
        settings=f"{RUN}/settings.json",
    log:
        f"{LOGS}/train_prompts/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/train_prompts/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: THREADS
    resources:
        gpu=1,
        device=DEVICE,
        torch_threads=TORCH_THREADS,
    params:
        clip=verbatim_json(EXP.clip),
        recipe=lambda w: to_json(run_recipe(w)),
        synthetic=lambda w, input: input.get("synthetic_features", ""),
        shards=lambda w, input: input.get("synthetic_shards", []),
        out_dir=lambda w, output: os.path.dirname(output.prompt),
    shell:
        'python "$AIR_SCRIPTS/train_prompts.py" --clip {params.clip:q} --recipe {params.recipe:q} --dataset {wildcards.d:q} '
        "--paradigm {wildcards.paradigm} --prompt {wildcards.prompt} --seed {wildcards.seed} "
        "--manifest {input.manifest:q} --features {input.features:q} --text-features {input.text_features:q} "
        "--text-features-concat {input.text_features_concat:q} --synthetic={params.synthetic:q} --synthetic-shards {params.shards:q} --device {resources.device:q} "
        "--threads {resources.torch_threads} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule evaluate:
    """The paradigm's test metric (top-1, or TRZSL's harmonic mean) and the pseudo-label accuracy."""
    input:
        manifest=rules.manifest.output.manifest,
        features=rules.encode_real.output.features,
        classifier=rules.train_prompts.output.classifier,
        prompt=rules.train_prompts.output.prompt,
        settings=rules.train_prompts.output.settings,
        split=rules.train_prompts.output.split,
        pseudo_labels=rules.train_prompts.output.pseudo_labels,
    output:
        predictions=f"{RUN}/predictions.parquet",
        metrics=f"{RUN}/metrics.parquet",
    log:
        f"{LOGS}/evaluate/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.tsv"
    conda:
        "../envs/air.yaml"
    resources:
        gpu=1,
        device=DEVICE,
        torch_threads=TORCH_THREADS,
    params:
        clip=verbatim_json(EXP.clip),
    shell:
        'python "$AIR_SCRIPTS/evaluate.py" --manifest {input.manifest:q} --features {input.features:q} '
        "--classifier {input.classifier:q} --prompt-file {input.prompt:q} --settings {input.settings:q} "
        "--clip {params.clip:q} --device {resources.device:q} --threads {resources.torch_threads} "
        "--split {input.split:q} --pseudo-labels {input.pseudo_labels:q} --predictions {output.predictions:q} "
        "--metrics {output.metrics:q} > {log:q} 2>&1"
