# Hyper-parameter search: an experiment with `tune:` runs its trials as jobs of one rule, one job
# per trial slot (results/{experiment}/tune/trials/{trial}.json), each asking the experiment's
# Optuna study for parameters and training them like train_model (resources: gpu), so --cores,
# --resources gpu=N and the Slurm profile run trials side by side. A rerun continues the study:
# finished slots are done, a slot whose job died fails its trial and asks its parameters again.
# The tune rule then writes the outcome and the best trial's model as results/{experiment}/model.pt.
from sepflow.plan.jobs import outcome_job, trial_job


rule tune_trial:
    wildcard_constraints:
        experiment=made_by("tune"),
        trial=r"\d+",
    input:
        unpack(planned("tune_trial")),
    output:
        record=LAYOUT.trial_record("{experiment}", "{trial}"),
    params:
        job=lambda w: trial_job(PLAN, w.experiment, int(w.trial)).to_json(),
    log:
        LAYOUT.log("{experiment}", "tune_trial_{trial}"),
    benchmark:
        LAYOUT.benchmark("{experiment}", "tune_trial_{trial}")
    threads: PLAN.settings.threads.train
    priority: PRIORITY_TRAINING
    resources:
        gpu=GPU,
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/tune_trial.py"


rule tune:
    wildcard_constraints:
        experiment=made_by("tune"),
    input:
        unpack(planned("tune")),
    output:
        model=LAYOUT.model("{experiment}"),
        trials=LAYOUT.tune_files("{experiment}")["trials"],
        best=LAYOUT.tune_files("{experiment}")["best"],
        study=LAYOUT.tune_files("{experiment}")["study"],
        history=LAYOUT.tune_files("{experiment}")["history"],
        importance=LAYOUT.tune_files("{experiment}")["importance"],
    params:
        job=lambda w: outcome_job(PLAN, w.experiment).to_json(),
    log:
        LAYOUT.log("{experiment}", "tune"),
    benchmark:
        LAYOUT.benchmark("{experiment}", "tune")
    threads: 1
    conda:
        "../../envs/sepflow.yaml"
    script:
        "../scripts/tune.py"


rule all_tuned:
    input:
        [LAYOUT.model(experiment) for experiment in PLAN.made_by("tune")],
