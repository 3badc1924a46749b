# Across runs: the results table and the paper's table layouts, mean ± std over seeds, the paper's number beside.

PAPER_TABLE_NUMBERS = {**{f"table1_{p}": 1 for p in config["prompts"]}, "table2": 2, "table3": 3}  # file -> table
PAPER_TABLES = expand(f"{R}/tables/{{name}}.{{ext}}", name=list(PAPER_TABLE_NUMBERS), ext=["md", "csv", "parquet"])



localrules:
    aggregate,

rule aggregate:
    """Collect every run's metrics into the results table and the paper's tables 1-3 (Markdown, CSV, Parquet)."""
    input:
        metrics=run_metrics(),
        paper=f"{workflow.basedir}/config/paper/paper_table1.csv",
        ablations=f"{workflow.basedir}/config/paper/paper_ablations.txt",
    output:
        PAPER_TABLES,
        *[  # the HTML renderings, in the report
            report(f"{R}/tables/{name}.html", caption=f"../report/table{number}.rst", category="paper tables",
                   subcategory=f"table {number}")
            for name, number in PAPER_TABLE_NUMBERS.items()
        ],
        table=RESULTS_TABLE,
        markdown=f"{R}/tables/results.md",
    params:
        script=f"{SCRIPTS}/aggregate.py",
        paper_methods=as_json({m: r.get("paper_method") for m, r in METHODS.items()}),
        recipes=json.dumps(METHODS),  # config order: the order of table 1's rows
        paradigms=config["paradigms"],
        prompts=config["prompts"],
        datasets=DATASETS,
        tables_dir=lambda w, output: os.path.dirname(output.table),
    conda:
        "../envs/air.yaml"
    log:
        f"{LOGS}/aggregate/aggregate.log",
    benchmark:
        f"{BENCH}/aggregate/aggregate.tsv"
    shell:
        "python {params.script} --metrics {input.metrics} --paper {input.paper} "
        "--paper-methods {params.paper_methods:q} --table {output.table} --markdown {output.markdown} "
        "--ablations {input.ablations} --recipes {params.recipes:q} --paradigms {params.paradigms} "
        "--prompts {params.prompts} --datasets {params.datasets} --tables-dir {params.tables_dir} > {log} 2>&1"
