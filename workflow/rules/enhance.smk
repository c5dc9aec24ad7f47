# Inference: every mixture of a test split through the experiment's system.


rule enhance:
    input:
        unpack(planned("enhance")),
    output:
        enhanced=directory(LAYOUT.enhanced("{experiment}", "{dataset}", "{split}")),
        record=LAYOUT.record(LAYOUT.enhanced("{experiment}", "{dataset}", "{split}")),
    params:
        system=lambda w: PLAN.experiment(w.experiment).system.for_inference().to_json(),
        enhance=lambda w: PLAN.experiment(w.experiment).enhance.to_json(),
        device=PLAN.settings.device,
    log:
        LAYOUT.log("{experiment}", "enhance_{dataset}_{split}"),
    benchmark:
        LAYOUT.benchmark("{experiment}", "enhance_{dataset}_{split}")
    threads: PLAN.settings.threads.enhance
    resources:
        gpu=lambda w: GPU * PLAN.experiment(w.experiment).system.uses_gpu(),
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/enhance.py"


rule all_enhanced:
    input:
        [LAYOUT.enhanced(experiment, split) for experiment, split in PLAN.targets()],
