# Report: per test set tables (CSV + Markdown), figures and one self-contained HTML page
# under results/report/; marked with report() so `snakemake --report` shows the same results.
from sepflow.plan.jobs import report_job


rule report:
    input:
        unpack(planned("report")),
    output:
        summary=report(LAYOUT.report("summary.csv"), category="Tables", caption="../report/summary.rst"),
        markdown=LAYOUT.report("summary.md"),
        figure=report(LAYOUT.report("metrics.png"), category="Figures", caption="../report/metrics.rst"),
        page=report(LAYOUT.report("index.html"), category="Report", caption="../report/index.rst"),
        tables=directory(LAYOUT.report("tables")),
        plots=report(
            directory(LAYOUT.report("plots")),
            patterns=["{name}.png"],
            category="Figures",
            caption="../report/plots.rst",
        ),
    params:
        job=report_job(PLAN).to_json(),
    log:
        LAYOUT.report("report.log"),
    threads: 1
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/report.py"
