# Released weights: an experiment with `pretrained:` downloads them (checksummed) instead of
# training, and is enhanced, evaluated and reported like a trained model.


rule fetch_released:
    wildcard_constraints:
        experiment=made_by("fetch_released"),
    input:
        unpack(planned("fetch_released")),
    output:
        model=LAYOUT.model("{experiment}"),
    params:
        system=lambda w: PLAN.experiment(w.experiment).system.to_json(),
        cache=LAYOUT.raw("released"),
    log:
        LAYOUT.log("{experiment}", "fetch_released"),
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/fetch_released.py"
