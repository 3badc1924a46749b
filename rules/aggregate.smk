# Across runs: the results table, mean ± std over seeds, with the paper's number beside.


rule aggregate:
    """Collect every run's metrics into the results table (Parquet and Markdown)."""
    input:
        metrics=run_metrics(),
        paper=f"{workflow.basedir}/config/paper/paper_table1.csv",
    output:
        table=RESULTS_TABLE,
        markdown=f"{R}/tables/results.md",
    params:
        script=f"{SCRIPTS}/aggregate.py",
        paper_methods=as_json({m: r["paper_method"] for m, r in METHODS.items()}),
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/aggregate/aggregate.log",
    shell:
        "python {params.script} --metrics {input.metrics} --paper {input.paper} "
        "--paper-methods {params.paper_methods:q} --table {output.table} --markdown {output.markdown} > {log} 2>&1"
