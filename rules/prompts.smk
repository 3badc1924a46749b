# Per run (dataset, paradigm, prompt, method, seed): iterative prompt training, then evaluation.
# A method is a recipe in config (methods.<name>); train_prompts resolves it against its base
# method's protocol defaults and the dataset's CPL thresholds (air_core.recipes) and records the
# result in settings.json.


rule train_prompts:
    """Relabel (FPL/GRIP/CPL, fused with the prototypes when the recipe uses them) and train the prompt."""
    input:
        unpack(synthetic_inputs),
        manifest=rules.manifest.output.manifest,
        features=rules.encode_real.output.features,
        text_features=rules.zero_shot.output.text_features,
        clip_files=model_inputs("clip"),
    output:
        prompt=f"{RUN}/prompt.safetensors",
        classifier=f"{RUN}/classifier.safetensors",
        split=f"{RUN}/split.parquet",
        pseudo_labels=f"{RUN}/pseudo_labels.parquet",
        confident_accuracy=f"{RUN}/confident_accuracy.parquet",
        history=f"{RUN}/history.parquet",
        settings=f"{RUN}/settings.json",
    params:
        script=f"{SCRIPTS}/train_prompts.py",
        clip=as_json(config["models"]["clip"]),
        device=config["device"],
        recipe=lambda w: as_json(run_recipe(w.method)),
        dataset=dataset_settings,
        synthetic=lambda w, input: input.get("synthetic_features", ""),
        shards=lambda w, input: input.get("synthetic_shards", []),
        out_dir=lambda w, output: os.path.dirname(output.prompt),
    resources:
        gpu=1,
    threads: THREADS
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/train_prompts/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/train_prompts/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.tsv"
    shell:
        "python {params.script} --clip {params.clip:q} --recipe {params.recipe:q} --dataset {params.dataset:q} "
        "--paradigm {wildcards.paradigm} --prompt {wildcards.prompt} --seed {wildcards.seed} "
        "--manifest {input.manifest} --features {input.features} --text-features {input.text_features} "
        "--synthetic '{params.synthetic}' --synthetic-shards {params.shards} --device {params.device} "
        "--threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


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
    params:
        script=f"{SCRIPTS}/evaluate.py",
        clip=as_json(config["models"]["clip"]),
        device=config["device"],
    resources:
        gpu=1,
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/evaluate/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{d}}_{{paradigm}}_{{prompt}}_{{method}}_seed{{seed}}.tsv"
    shell:
        "python {params.script} --manifest {input.manifest} --features {input.features} "
        "--classifier {input.classifier} --prompt-file {input.prompt} --settings {input.settings} "
        "--clip {params.clip:q} --device {params.device} --split {input.split} "
        "--pseudo-labels {input.pseudo_labels} --dataset {wildcards.d} --paradigm {wildcards.paradigm} "
        "--prompt {wildcards.prompt} --method {wildcards.method} --seed {wildcards.seed} "
        "--predictions {output.predictions} --metrics {output.metrics} > {log} 2>&1"
