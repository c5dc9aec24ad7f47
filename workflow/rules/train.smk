# Training: one model per experiment with a `model`; it asks for one GPU per training process
# (`train: {processes: N}`, default 1) when CUDA will be used, and N > 1 processes are started
# through Accelerate (sepflow.train.launch).
# results/{experiment}/train/ keeps last.pt so an interrupted or extended run resumes.


rule train_model:
    wildcard_constraints:
        experiment="|".join(TRAINED) or "^$",
    input:
        train_inputs,
    output:
        model=f"{RESULTS}/{{experiment}}/model.pt",
    params:
        experiment=train_params,
        device=config["device"],
        workdir=lambda w: f"{RESULTS}/{w.experiment}/train",
        manifests=f"{DATA}/manifests",
    log:
        f"{RESULTS}/{{experiment}}/logs/train.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/benchmarks/train.tsv"
    threads: config["threads"]["train"]
    resources:
        gpu=train_gpus,
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/train.py"


rule all_models:
    input:
        expand(f"{RESULTS}/{{experiment}}/model.pt", experiment=TRAINED),
