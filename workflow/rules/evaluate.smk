# Evaluation: per-item PESQ (wide band), STOI, SI-SNR and SI-SNR improvement.


rule evaluate:
    input:
        manifest=lambda w: manifest_path(w.dataset, w.split),
        enhanced=f"{RESULTS}/{{experiment}}/{{dataset}}/{{split}}/enhanced",
        record=f"{RESULTS}/{{experiment}}/{{dataset}}/{{split}}/enhanced.record.json",
    output:
        f"{RESULTS}/{{experiment}}/{{dataset}}/{{split}}/metrics.csv",
    log:
        f"{RESULTS}/{{experiment}}/logs/evaluate_{{dataset}}_{{split}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/evaluate_{{dataset}}_{{split}}.tsv"
    params:
        dnsmos=config["metrics"]["dnsmos"],
    threads: config["threads"]["evaluate"]
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/evaluate.py"


rule all_metrics:
    input:
        metrics_files(),
