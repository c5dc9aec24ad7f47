# Manifests: one JSON per split of each dataset, paths relative to the data folder.


rule manifest:
    input:
        audio=f"{DATA}/audio/{{dataset}}",
        record=f"{DATA}/audio/{{dataset}}.record.json",
    output:
        f"{DATA}/manifests/{{dataset}}/{{split}}.json",
    params:
        dataset=lambda w: canonical_json(config["datasets"][w.dataset]),
    log:
        f"{DATA}/logs/{{dataset}}/manifest_{{split}}.log",
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/manifest.py"


rule all_manifests:
    input:
        [manifest_path(ds, split) for ds, cfg in config["datasets"].items() for split in dataset_splits(cfg)],
