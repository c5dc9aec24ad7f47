# Evaluation: per-item metrics of each enhanced test split.


rule evaluate:
    input:
        unpack(planned("evaluate")),
    output:
        LAYOUT.metrics("{experiment}", "{dataset}", "{split}"),
    log:
        LAYOUT.log("{experiment}", "evaluate_{dataset}_{split}"),
    benchmark:
        LAYOUT.benchmark("{experiment}", "evaluate_{dataset}_{split}")
    params:
        dnsmos=PLAN.settings.metrics.dnsmos,
    threads: PLAN.settings.threads.evaluate
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/evaluate.py"


rule all_metrics:
    input:
        [LAYOUT.metrics(experiment, split) for experiment, split in PLAN.targets()],
