# Across runs: the results table and the paper's table layouts, mean ± std over seeds, the paper's number beside.

PAPER_TABLE_NUMBERS = {**{f"table1_{p}": 1 for p in EXP.prompts}, "table2": 2, "table3": 3}  # file -> table
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
            report(
                f"{R}/tables/{name}.html",
                caption=f"../report/table{number}.rst",
                category="paper tables",
                subcategory=f"table {number}",
            )
            for name, number in PAPER_TABLE_NUMBERS.items()
        ],
        table=RESULTS_TABLE,
        markdown=f"{R}/tables/results.md",
    log:
        f"{LOGS}/aggregate/aggregate.log",
    benchmark:
        f"{BENCH}/aggregate/aggregate.tsv"
    conda:
        "../envs/air.yaml"
    params:
        methods=verbatim_json(EXP.method_summary()),  # config order: the order of table 1's rows
        grid=verbatim_json({"paradigms": EXP.paradigms, "prompts": EXP.prompts, "datasets": DATASETS}),
        tables_dir=lambda w, output: os.path.dirname(output.table),
    shell:
        'python "$AIR_SCRIPTS/aggregate.py" --metrics {input.metrics:q} --paper {input.paper:q} '
        "--ablations {input.ablations:q} --methods {params.methods:q} --grid {params.grid:q} "
        "--table {output.table:q} --markdown {output.markdown:q} --tables-dir {params.tables_dir:q} > {log:q} 2>&1"
