# Datasets: download, check, resample into data/audio/{dataset}. The demo corpus is
# synthesized offline instead of downloaded.


rule demo_corpus:
    wildcard_constraints:
        dataset="|".join(DEMO_DATASETS) or "^$",
    output:
        directory(f"{DATA}/audio/{{dataset}}"),
    params:
        dataset=lambda w: canonical_json(config["datasets"][w.dataset]),
        seed=config["seed"],
    log:
        f"{DATA}/logs/{{dataset}}/demo_corpus.log",
    benchmark:
        f"{DATA}/benchmarks/{{dataset}}/demo_corpus.tsv"
    threads: 2
    script:
        "../scripts/demo_corpus.py"


rule all_data:
    input:
        expand(f"{DATA}/audio/{{dataset}}", dataset=config["datasets"]),
