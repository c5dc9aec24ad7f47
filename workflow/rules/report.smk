# Report: per test set tables (CSV + Markdown), figures and one self-contained HTML page
# under results/report/; marked with report() so `snakemake --report` shows the same results.
import hashlib

REPORT_TESTSETS = list(dict.fromkeys(ts for _, ts in TARGETS))


rule report:
    input:
        metrics=metrics_files(),
        models=expand(f"{RESULTS}/{{experiment}}/model.pt", experiment=MODELLED),
        manifests=[manifest_path(ts.dataset, ts.split) for ts in REPORT_TESTSETS],
    output:
        summary=report(f"{RESULTS}/report/summary.csv", category="Tables", caption="../report/summary.rst"),
        markdown=f"{RESULTS}/report/summary.md",
        figure=report(f"{RESULTS}/report/metrics.png", category="Figures", caption="../report/metrics.rst"),
        page=report(f"{RESULTS}/report/index.html", category="Report", caption="../report/index.rst"),
        tables=directory(f"{RESULTS}/report/tables"),
        plots=report(directory(f"{RESULTS}/report/plots"), patterns=["{name}.png"], category="Figures",
                     caption="../report/plots.rst"),
    params:
        targets=[f"{exp}|{ts.name}" for exp, ts in TARGETS],
        testsets=[ts.name for ts in REPORT_TESTSETS],
        trained=MODELLED,
        config_hash=hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16],
    log:
        f"{RESULTS}/report/report.log",
    threads: 1
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/report.py"
