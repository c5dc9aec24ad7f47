# Datasets: each dataset's recipe prepares data/audio/{dataset} (synthesizes the demo,
# resamples a user's folder, later downloads and resamples a public corpus).


rule prepare:
    input:
        recipe_inputs,
    output:
        audio=directory(f"{DATA}/audio/{{dataset}}"),
        record=f"{DATA}/audio/{{dataset}}.record.json",
    params:
        dataset=lambda w: canonical_json(config["datasets"][w.dataset]),
        raw_dir=lambda w: f"{DATA}/raw/{w.dataset}",
        seed=config["seed"],
    log:
        f"{DATA}/logs/{{dataset}}/prepare.log",
    benchmark:
        f"{DATA}/benchmarks/{{dataset}}/prepare.tsv"
    threads: 2
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/prepare.py"


rule all_data:
    input:
        expand(f"{DATA}/audio/{{dataset}}", dataset=config["datasets"]),
