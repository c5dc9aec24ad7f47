# Manifests: one JSON per split of each dataset, paths relative to the data folder.


rule manifest:
    input:
        f"{DATA}/audio/{{dataset}}",
    output:
        f"{DATA}/manifests/{{dataset}}/{{split}}.json",
    params:
        data_dir=DATA,
        dataset=lambda w: canonical_json(config["datasets"][w.dataset]),
    log:
        f"{DATA}/logs/{{dataset}}/manifest_{{split}}.log",
    script:
        "../scripts/manifest.py"


rule all_manifests:
    input:
        [manifest_path(ds, split) for ds, cfg in config["datasets"].items() for split in dataset_splits(cfg)],
