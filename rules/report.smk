# The report: figures per dataset and per method from the existing artifacts, and the results index.
# `snakemake --report report.html` collects every file marked report(...) below (and the paper tables of
# rule aggregate), grouped by dataset, each with its caption from report/.

PLOTS = f"{R}/{{d}}/plots"
RESULTS_INDEX = f"{R}/README.md"


# Every figure of the report and the results index (rule all asks for them).
REPORT_TARGETS = (
    expand(f"{PLOTS}/{{name}}.png", d=DATASETS, name=["zero_shot_confusion", "tsne", "cam"])
    + [f"{PLOTS}/studies.png".format(d=d) for d in DATASETS if has_studies(d)]
    + [f"{PLOTS}/synthetic_{v}.png".format(d=d) for d in DATASETS for v in EXP.variants_read(d)]
    + [f"{PLOTS}/lora_loss_{v}.png".format(d=d) for d in DATASETS for v in lora_variants(d)]
    + expand(
        f"{PLOTS}/pseudo_labels_{{paradigm}}_{{prompt}}.png", d=DATASETS, paradigm=EXP.paradigms, prompt=EXP.prompts
    )
    + [
        f"{PLOTS}/training_{r.paradigm}_{r.prompt}_{r.method}.png".format(d=r.dataset)
        for r in EXP.runs()
        if r.seed == SEEDS[0]
    ]
    + [RESULTS_INDEX]
)


# Seconds of CPU work each (t-SNE of at most 1000 points too): on a cluster they run beside Snakemake, not as
# queued jobs. plot_cam loads CLIP and is queued.
localrules:
    report_files,
    plot_studies,
    plot_tsne,
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
        report(
            f"{PLOTS}/zero_shot_confusion.png",
            caption="../report/zero_shot_confusion.rst",
            category="{d}",
            subcategory="1 zero-shot pseudo-labels",
        ),
    log:
        f"{LOGS}/plot_zero_shot/{{d}}.log",
    benchmark:
        f"{BENCH}/plot_zero_shot/{{d}}.tsv"
    conda:
        "../envs/air.yaml"
    params:
        title=lambda w: f"Zero-shot pseudo-labels, {w.d} train pool",
    shell:
        'python "$AIR_SCRIPTS/plot_zero_shot.py" --manifest {input.manifest:q} --classes {input.classes:q} --probs {input.probs:q} '
        "--title {params.title:q} --out {output:q} > {log:q} 2>&1"


rule plot_lora_loss:
    """The LoRA loss per optimizer step (eq. 4)."""
    input:
        loss=rules.train_lora.output.loss,
    output:
        report(
            f"{PLOTS}/lora_loss_{{variant}}.png",
            caption="../report/lora_loss.rst",
            category="{d}",
            subcategory="2 diffusion",
        ),
    log:
        f"{LOGS}/plot_lora_loss/{{d}}_{{variant}}.log",
    benchmark:
        f"{BENCH}/plot_lora_loss/{{d}}_{{variant}}.tsv"
    conda:
        "../envs/air.yaml"
    params:
        title=lambda w: f"LoRA fine-tuning ({w.variant}), {w.d}",
    shell:
        'python "$AIR_SCRIPTS/plot_lora_loss.py" --loss {input.loss:q} --title {params.title:q} --out {output:q} > {log:q} 2>&1'


rule plot_synthetic:
    """A few synthetic images per class; publishes rule select's prototype grid beside them."""
    input:
        shards=shard_indexes,
        prototypes=report(
            rules.select.output.grid, caption="../report/prototypes.rst", category="{d}", subcategory="2 diffusion"
        ),
    output:
        report(
            f"{PLOTS}/synthetic_{{variant}}.png",
            caption="../report/synthetic.rst",
            category="{d}",
            subcategory="2 diffusion",
        ),
    log:
        f"{LOGS}/plot_synthetic/{{d}}_{{variant}}.log",
    benchmark:
        f"{BENCH}/plot_synthetic/{{d}}_{{variant}}.tsv"
    conda:
        "../envs/air.yaml"
    params:
        per_class=6,
        title=lambda w: f"Synthetic images ({w.variant}), {w.d}",
    shell:
        'python "$AIR_SCRIPTS/plot_synthetic.py" --shards {input.shards:q} --per-class {params.per_class} '
        "--title {params.title:q} --out {output:q} > {log:q} 2>&1"


rule plot_tsne:
    """t-SNE of the test images, the text classifier, the prototypes and the fused classifier (paper fig. 6)."""
    input:
        manifest=rules.manifest.output.manifest,
        classes=rules.manifest.output.classes,
        features=rules.encode_real.output.features,
        text_features=rules.zero_shot.output.text_features,
        prototypes=tsne_prototypes,
    output:
        report(f"{PLOTS}/tsne.png", caption="../report/tsne.rst", category="{d}", subcategory="3 embeddings"),
    log:
        f"{LOGS}/plot_tsne/{{d}}.log",
    benchmark:
        f"{BENCH}/plot_tsne/{{d}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: THREADS
    resources:
        torch_threads=TORCH_THREADS,
    params:
        max_points=1000,
        prototypes=lambda w, input: input.prototypes or "",
        fusion_lambda=lambda w: shown_lambda(w.d),
        title=lambda w: f"t-SNE of the test images' CLIP features and the classifiers, {w.d}",
    shell:
        'python "$AIR_SCRIPTS/plot_tsne.py" --manifest {input.manifest:q} --classes {input.classes:q} '
        "--features {input.features:q} --text-features {input.text_features:q} --prototypes={params.prototypes:q} "
        "--fusion-lambda {params.fusion_lambda} "
        "--max-points {params.max_points} --threads {resources.torch_threads} --title {params.title:q} "
        "--out {output:q} > {log:q} 2>&1"


rule plot_pseudo_labels:
    """Pseudo-label accuracy per iteration, text-only vs fused (paper fig. 4), from every run's confident_accuracy."""
    input:
        tables=confident_accuracy_tables,
    output:
        report(
            f"{PLOTS}/pseudo_labels_{{paradigm}}_{{prompt}}.png",
            caption="../report/pseudo_labels.rst",
            category="{d}",
            subcategory="4 pseudo-label accuracy",
        ),
    log:
        f"{LOGS}/plot_pseudo_labels/{{d}}_{{paradigm}}_{{prompt}}.log",
    benchmark:
        f"{BENCH}/plot_pseudo_labels/{{d}}_{{paradigm}}_{{prompt}}.tsv"
    conda:
        "../envs/air.yaml"
    params:
        methods=lambda w: [m for m, _ in method_seeds(w)],
        seeds=lambda w: [s for _, s in method_seeds(w)],
        title=lambda w: f"Most confident pseudo-labels per class, {w.d} {w.paradigm} {w.prompt}",
    shell:
        'python "$AIR_SCRIPTS/plot_pseudo_labels.py" --tables {input.tables:q} --methods {params.methods:q} --seeds {params.seeds} '
        "--title {params.title:q} --out {output:q} > {log:q} 2>&1"


rule plot_training:
    """Prompt-training curves of one method over its seeds and rounds."""
    input:
        histories=expand(f"{RUN}/history.parquet", seed=SEEDS, allow_missing=True),
    output:
        report(
            f"{PLOTS}/training_{{paradigm}}_{{prompt}}_{{method}}.png",
            caption="../report/training.rst",
            category="{d}",
            subcategory="5 prompt training",
        ),
    log:
        f"{LOGS}/plot_training/{{d}}_{{paradigm}}_{{prompt}}_{{method}}.log",
    benchmark:
        f"{BENCH}/plot_training/{{d}}_{{paradigm}}_{{prompt}}_{{method}}.tsv"
    conda:
        "../envs/air.yaml"
    params:
        seeds=SEEDS,
        title=lambda w: f"Prompt training, {w.method}, {w.d} {w.paradigm} {w.prompt}",
    shell:
        'python "$AIR_SCRIPTS/plot_training.py" --histories {input.histories:q} --seeds {params.seeds} '
        "--title {params.title:q} --out {output:q} > {log:q} 2>&1"


rule results_index:
    """<R>/README.md: what each file of the results tree is, generated from the docs' trees."""
    input:
        docs=[f"{workflow.basedir}/docs/artifacts.md", f"{workflow.basedir}/docs/report.md"],
    output:
        RESULTS_INDEX,
    log:
        f"{LOGS}/results_index/results_index.log",
    benchmark:
        f"{BENCH}/results_index/results_index.tsv"
    conda:
        "../envs/air.yaml"
    params:
        settings=verbatim_json(
            {
                "dataset": DATASETS,
                "paradigm": EXP.paradigms,
                "prompt": EXP.prompts,
                "method": list(EXP.methods),
                "seed": SEEDS,
                "variant": list(EXP.sd_variants),
            }
        ),
    shell:
        'python "$AIR_SCRIPTS/write_readme.py" --docs {input.docs:q} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1'


rule plot_studies:
    """Accuracy against lambda, beta and M (paper fig. 3) and against the SD variant, from the dataset's UL/text
    runs (not the results table: a dataset's target must not wait for the other datasets' runs)."""
    input:
        metrics=lambda w: run_metrics([w.d], cell=STUDY_CELL),
        paper=f"{workflow.basedir}/config/paper/paper_table1.csv",
        ablations=f"{workflow.basedir}/config/paper/paper_ablations.txt",
    output:
        report(f"{PLOTS}/studies.png", caption="../report/studies.rst", category="{d}", subcategory="6 studies"),
    log:
        f"{LOGS}/plot_studies/{{d}}.log",
    benchmark:
        f"{BENCH}/plot_studies/{{d}}.tsv"
    conda:
        "../envs/air.yaml"
    params:
        methods=verbatim_json(EXP.method_summary()),
    shell:
        'python "$AIR_SCRIPTS/plot_studies.py" --metrics {input.metrics:q} --methods {params.methods:q} '
        "--paper {input.paper:q} --ablations {input.ablations:q} --dataset {wildcards.d:q} --out {output:q} "
        "> {log:q} 2>&1"


rule plot_cam:
    """Grad-CAM of CLIP's image tower on a few test images, text-only vs fused prediction (paper fig. 5)."""
    input:
        manifest=rules.manifest.output.manifest,
        classes=rules.manifest.output.classes,
        text_features=rules.zero_shot.output.text_features,
        prototypes=tsne_prototypes,
        clip_files=model_inputs("clip"),
    output:
        report(f"{PLOTS}/cam.png", caption="../report/cam.rst", category="{d}", subcategory="3 embeddings"),
    log:
        f"{LOGS}/plot_cam/{{d}}.log",
    benchmark:
        f"{BENCH}/plot_cam/{{d}}.tsv"
    conda:
        "../envs/air.yaml"
    threads: THREADS
    resources:
        gpu=1,
        device=DEVICE,
        torch_threads=TORCH_THREADS,
    params:
        clip=verbatim_json(EXP.clip),
        prototypes=lambda w, input: input.prototypes or "",
        fusion_lambda=lambda w: shown_lambda(w.d),
        n_images=4,
    shell:
        'python "$AIR_SCRIPTS/plot_cam.py" --clip {params.clip:q} --manifest {input.manifest:q} '
        "--classes {input.classes:q} --text-features {input.text_features:q} --prototypes={params.prototypes:q} "
        "--fusion-lambda {params.fusion_lambda} --n-images {params.n_images} --device {resources.device:q} "
        "--threads {resources.torch_threads} --out {output:q} > {log:q} 2>&1"
