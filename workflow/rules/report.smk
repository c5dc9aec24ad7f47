# Report: the aggregated table (CSV + Markdown) and the plot under results/report/.


rule report:
    input:
        metrics=metrics_files(),
        models=expand(f"{RESULTS}/{{experiment}}/model.pt", experiment=TRAINED),
    output:
        REPORT_FILES,
    params:
        targets=[f"{exp}|{ts.name}" for exp, ts in TARGETS],
    log:
        f"{RESULTS}/report/report.log",
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/report.py"
