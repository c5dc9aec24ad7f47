# Inference: every noisy file of a test split through a trained model or a baseline.


rule enhance:
    input:
        unpack(enhance_inputs),
    output:
        enhanced=directory(f"{RESULTS}/{{experiment}}/{{dataset}}/{{split}}/enhanced"),
        record=f"{RESULTS}/{{experiment}}/{{dataset}}/{{split}}/enhanced.record.json",
    params:
        experiment=enhance_params,
        device=config["device"],
    log:
        f"{RESULTS}/{{experiment}}/logs/enhance_{{dataset}}_{{split}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/enhance_{{dataset}}_{{split}}.tsv"
    threads: config["threads"]["enhance"]
    resources:
        gpu=lambda w: GPU if w.experiment in MODELLED else 0,
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/enhance.py"


rule all_enhanced:
    input:
        [f"{RESULTS}/{exp}/{ts.dataset}/{ts.split}/enhanced" for exp, ts in TARGETS],
