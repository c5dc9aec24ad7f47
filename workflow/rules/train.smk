# Training: one model per experiment whose system is trained here; it asks for one GPU per
# training process (`train: {processes: N}`, default 1) when CUDA will be used, and N > 1
# processes are started through Accelerate (sepflow.train.launch).
# results/{experiment}/train/ keeps last.pt so an interrupted or extended run resumes.
from sepflow.plan.jobs import train_job


rule train_model:
    wildcard_constraints:
        experiment=made_by("train_model"),
    input:
        unpack(planned("train_model")),
    output:
        model=LAYOUT.model("{experiment}"),
    params:
        job=lambda w: train_job(PLAN, w.experiment).to_json(),
    log:
        LAYOUT.log("{experiment}", "train"),
    benchmark:
        LAYOUT.benchmark("{experiment}", "train")
    threads: PLAN.settings.threads.train
    priority: PRIORITY_TRAINING
    resources:
        gpu=lambda w: GPU * PLAN.experiment(w.experiment).system.processes(),
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/train.py"


rule all_models:
    input:
        [LAYOUT.model(experiment) for experiment in PLAN.made_by("train_model")],
