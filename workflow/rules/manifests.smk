# Manifests: one JSON per split of each dataset, paths relative to the data folder.


rule manifest:
    input:
        unpack(planned("manifest")),
    output:
        LAYOUT.manifest("{dataset}", "{split}"),
    params:
        dataset=lambda w: PLAN.datasets[w.dataset].options.to_json(),
    log:
        LAYOUT.data_log("{dataset}", "manifest_{split}"),
    threads: PLAN.settings.threads.manifest
    priority: PRIORITY_DATA
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/manifest.py"


rule all_manifests:
    input:
        [LAYOUT.manifest(split) for split in PLAN.splits()],
