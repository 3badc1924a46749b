# The report: figures per dataset and per method from the existing artifacts, and the results index.
# `snakemake --report report.html` collects every file marked report(...) below (and the paper tables of
# rule aggregate), grouped by dataset, each with its caption from report/.

PLOTS = f"{R}/{{d}}/plots"
RESULTS_INDEX = f"{R}/README.md"


# The prototypes shown in the t-SNE beside the real and text embeddings: the LoRA variant's when made.
TSNE_VARIANT = "lora" if "lora" in synthetic_variants() else next(iter(synthetic_variants()), None)


# Every figure of the report and the results index (rule all asks for them).
REPORT_TARGETS = (
    expand(f"{PLOTS}/{{name}}.png", d=DATASETS, name=["zero_shot_confusion", "tsne"])
    + expand(f"{PLOTS}/synthetic_{{variant}}.png", d=DATASETS, variant=synthetic_variants())
    + expand(f"{PLOTS}/lora_loss.png", d=DATASETS if "lora" in synthetic_variants() else [])
    + expand(f"{PLOTS}/pseudo_labels_{{paradigm}}_{{prompt}}.png", d=DATASETS, paradigm=config["paradigms"],
             prompt=config["prompts"])
    + [f"{PLOTS}/training_{{paradigm}}_{{prompt}}_{{method}}.png".format(d=d, paradigm=paradigm, prompt=prompt,
                                                                       method=method)
       for d in DATASETS for paradigm, prompt, method in GRID]
    + [RESULTS_INDEX]
)

# Seconds of CPU work each: on a cluster they run beside Snakemake, not as queued jobs (t-SNE is queued).
localrules:
    report_files,
    plot_zero_shot,
    plot_lora_loss,
    plot_synthetic,
    plot_pseudo_labels,
    plot_training,
    results_index,


rule report_files:
    """Partial target: every figure of the report, the paper tables and the results index."""
    input:
        REPORT_TARGETS,
        PAPER_TABLES,


rule plot_zero_shot:
    """Confusion matrix of the zero-shot pseudo-labels on the train pool (paper fig. 1)."""
    input:
        manifest=rules.manifest.output.manifest,
        classes=rules.manifest.output.classes,
        probs=rules.zero_shot.output.probs,
    output:
        report(f"{PLOTS}/zero_shot_confusion.png", caption="../report/zero_shot_confusion.rst", category="{d}",
               subcategory="1 zero-shot pseudo-labels"),
    params:
        script=f"{SCRIPTS}/plot_zero_shot.py",
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/plot_zero_shot/{{d}}.log",
    benchmark:
        f"{BENCH}/plot_zero_shot/{{d}}.tsv"
    shell:
        "python {params.script} --manifest {input.manifest} --classes {input.classes} --probs {input.probs} "
        "--title 'Zero-shot pseudo-labels, {wildcards.d} train pool' --out {output} > {log} 2>&1"


rule plot_lora_loss:
    """The LoRA loss per optimizer step (eq. 4)."""
    input:
        loss=rules.train_lora.output.loss,
    output:
        report(f"{PLOTS}/lora_loss.png", caption="../report/lora_loss.rst", category="{d}",
               subcategory="2 diffusion"),
    params:
        script=f"{SCRIPTS}/plot_lora_loss.py",
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/plot_lora_loss/{{d}}.log",
    benchmark:
        f"{BENCH}/plot_lora_loss/{{d}}.tsv"
    shell:
        "python {params.script} --loss {input.loss} --title 'LoRA fine-tuning, {wildcards.d}' "
        "--out {output} > {log} 2>&1"


rule plot_synthetic:
    """A few synthetic images per class; publishes rule select's prototype grid beside them."""
    input:
        shards=shard_indexes,
        prototypes=report(rules.select.output.grid, caption="../report/prototypes.rst", category="{d}",
                          subcategory="2 diffusion"),
    output:
        report(f"{PLOTS}/synthetic_{{variant}}.png", caption="../report/synthetic.rst", category="{d}",
               subcategory="2 diffusion"),
    params:
        script=f"{SCRIPTS}/plot_synthetic.py",
        per_class=6,
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/plot_synthetic/{{d}}_{{variant}}.log",
    benchmark:
        f"{BENCH}/plot_synthetic/{{d}}_{{variant}}.tsv"
    shell:
        "python {params.script} --shards {input.shards} --per-class {params.per_class} "
        "--title 'Synthetic images ({wildcards.variant}), {wildcards.d}' --out {output} > {log} 2>&1"


rule plot_tsne:
    """t-SNE of real-image, text and prototype embeddings (paper fig. 6)."""
    input:
        manifest=rules.manifest.output.manifest,
        classes=rules.manifest.output.classes,
        features=rules.encode_real.output.features,
        text_features=rules.zero_shot.output.text_features,
        prototypes=[f"{R}/{{d}}/synthetic/{TSNE_VARIANT}/prototypes.parquet"] if TSNE_VARIANT else [],
    output:
        report(f"{PLOTS}/tsne.png", caption="../report/tsne.rst", category="{d}", subcategory="3 embeddings"),
    params:
        script=f"{SCRIPTS}/plot_tsne.py",
        max_points=1000,
    threads: THREADS
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/plot_tsne/{{d}}.log",
    benchmark:
        f"{BENCH}/plot_tsne/{{d}}.tsv"
    shell:
        "python {params.script} --manifest {input.manifest} --classes {input.classes} --features {input.features} "
        "--text-features {input.text_features} --prototypes '{input.prototypes}' --max-points {params.max_points} "
        "--threads {threads} --title 't-SNE of CLIP embeddings, {wildcards.d}' --out {output} > {log} 2>&1"


rule plot_pseudo_labels:
    """Pseudo-label accuracy per iteration, text-only vs fused (paper fig. 4), from every run's confident_accuracy."""
    input:
        tables=confident_accuracy_tables,
    output:
        report(f"{PLOTS}/pseudo_labels_{{paradigm}}_{{prompt}}.png", caption="../report/pseudo_labels.rst",
               category="{d}", subcategory="4 pseudo-label accuracy"),
    params:
        script=f"{SCRIPTS}/plot_pseudo_labels.py",
        methods=lambda w: [m for m, _ in method_seeds(w)],
        seeds=lambda w: [s for _, s in method_seeds(w)],
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/plot_pseudo_labels/{{d}}_{{paradigm}}_{{prompt}}.log",
    benchmark:
        f"{BENCH}/plot_pseudo_labels/{{d}}_{{paradigm}}_{{prompt}}.tsv"
    shell:
        "python {params.script} --tables {input.tables} --methods {params.methods} --seeds {params.seeds} "
        "--title 'Most confident pseudo-labels per class, {wildcards.d} {wildcards.paradigm} {wildcards.prompt}' "
        "--out {output} > {log} 2>&1"


rule plot_training:
    """Prompt-training curves of one method over its seeds and rounds."""
    input:
        histories=expand(f"{RUN}/history.parquet", seed=SEEDS, allow_missing=True),
    output:
        report(f"{PLOTS}/training_{{paradigm}}_{{prompt}}_{{method}}.png", caption="../report/training.rst",
               category="{d}", subcategory="5 prompt training"),
    params:
        script=f"{SCRIPTS}/plot_training.py",
        seeds=SEEDS,
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/plot_training/{{d}}_{{paradigm}}_{{prompt}}_{{method}}.log",
    benchmark:
        f"{BENCH}/plot_training/{{d}}_{{paradigm}}_{{prompt}}_{{method}}.tsv"
    shell:
        "python {params.script} --histories {input.histories} --seeds {params.seeds} "
        "--title 'Prompt training, {wildcards.method}, {wildcards.d} {wildcards.paradigm} {wildcards.prompt}' "
        "--out {output} > {log} 2>&1"


rule results_index:
    """<R>/README.md: what each file of the results tree is, generated from the docs' trees."""
    input:
        docs=[f"{workflow.basedir}/docs/artifacts.md", f"{workflow.basedir}/docs/report.md"],
    output:
        RESULTS_INDEX,
    params:
        script=f"{SCRIPTS}/write_readme.py",
        settings=as_json({"dataset": DATASETS, "paradigm": config["paradigms"], "prompt": config["prompts"],
                          "method": list(METHODS), "seed": SEEDS, "variant": synthetic_variants()}),
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/results_index/results_index.log",
    benchmark:
        f"{BENCH}/results_index/results_index.tsv"
    shell:
        "python {params.script} --docs {input.docs} --settings {params.settings:q} --out {output} > {log} 2>&1"
