# Datasets: each dataset's recipe prepares data/audio/{dataset} (synthesizes the demo,
# resamples a user's folder, downloads and resamples a public corpus).


rule prepare:
    input:
        unpack(planned("prepare")),
    output:
        audio=directory(LAYOUT.prepared("{dataset}")),
        record=LAYOUT.record(LAYOUT.prepared("{dataset}")),
    params:
        dataset=lambda w: PLAN.datasets[w.dataset].options.to_json(),
        raw_dir=lambda w: LAYOUT.raw(w.dataset),
        seed=PLAN.settings.seed,
    log:
        LAYOUT.data_log("{dataset}", "prepare"),
    benchmark:
        LAYOUT.data_benchmark("{dataset}", "prepare")
    threads: PLAN.settings.threads.prepare
    priority: PRIORITY_DATA
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/prepare.py"


rule all_data:
    input:
        [LAYOUT.prepared(dataset) for dataset in PLAN.datasets],
