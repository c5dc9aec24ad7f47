# Released weights: an experiment with `pretrained:` downloads them (checksummed) instead of
# training, and is enhanced, evaluated and reported like a trained model.


rule fetch_pretrained:
    output:
        model=f"{RESULTS}/{{experiment}}/model.pt",
    wildcard_constraints:
        experiment="|".join(PRETRAINED) or "^$",
    params:
        released=lambda w: canonical_json(EXPERIMENTS[w.experiment]["pretrained"]),
        cache=f"{DATA}/raw/released",
    log:
        f"{RESULTS}/{{experiment}}/logs/fetch_pretrained.log",
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/fetch_pretrained.py"
