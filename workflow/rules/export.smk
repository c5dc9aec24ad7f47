# Export: a trained experiment's model as ONNX graphs (a streaming hop with explicit state for
# causal models, an offline graph) and a model card, checked against PyTorch as it is made
# (sepflow.export); `snakemake all_exports` exports every trained model of the config, and an
# experiment with `exported: NAME` scores the export through onnxruntime like any system.
from sepflow.plan.jobs import export_job


rule export_model:
    wildcard_constraints:
        experiment=made_by("train_model"),
    input:
        unpack(planned("export_model")),
    output:
        directory(LAYOUT.export("{experiment}")),
    params:
        job=lambda w: export_job(PLAN, w.experiment).to_json(),
    log:
        LAYOUT.log("{experiment}", "export"),
    benchmark:
        LAYOUT.benchmark("{experiment}", "export")
    threads: 1
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/export.py"


rule all_exports:
    input:
        [LAYOUT.export(experiment) for experiment in PLAN.made_by("train_model")],
