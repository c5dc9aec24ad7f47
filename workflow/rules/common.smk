# Helpers shared by the rules: config checks, paths, GPU tagging, rule params.
from sepflow.config import (
    canonical_json,
    check_config,
    evaluation_targets,
    trained_experiments,
)
from sepflow.data.recipes import dataset_splits, get_recipe
from sepflow.errors import SepflowError

try:
    check_config(config)
except SepflowError as exc:
    raise WorkflowError(f"config: {exc}") from None

DATA = config["data_dir"]
RESULTS = config["results_dir"]
EXPERIMENTS = config["experiments"]
TRAINED = trained_experiments(config)
TARGETS = evaluation_targets(config)
REPORT_FILES = [f"{RESULTS}/report/summary.csv", f"{RESULTS}/report/summary.md", f"{RESULTS}/report/metrics.png"]


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    split=r"[A-Za-z0-9_]+",
    experiment=r"[A-Za-z0-9_]+",


# GPU jobs ask for one GPU unless the config says `device: cpu`. Decided from the config
# alone, never by probing this machine: on a cluster the DAG is built on a login node without
# a GPU, and `auto` there means "ask for a GPU" (the job falls back to CPU where none is).
GPU = 0 if config["device"] == "cpu" else 1


def manifest_path(dataset, split):
    return f"{DATA}/manifests/{dataset}/{split}.json"


def recipe_inputs(wildcards):
    """A user's files that a prepared dataset is made from: a change rebuilds the copy."""
    cfg = config["datasets"][wildcards.dataset]
    return get_recipe(cfg["recipe"]).inputs(cfg)


def train_params(wildcards):
    """What training depends on; the global seed unless the experiment sets its own."""
    exp = EXPERIMENTS[wildcards.experiment]
    params = {key: exp.get(key) for key in ("model", "args", "data", "train")}
    params["train"] = {"seed": config["seed"], **exp["train"]}
    return canonical_json(params)


def train_inputs(wildcards):
    if wildcards.experiment not in TRAINED:
        raise WorkflowError(f"experiment {wildcards.experiment!r} has no model to train")
    data = EXPERIMENTS[wildcards.experiment]["data"]
    return {
        "train": manifest_path(data["dataset"], data["train"]),
        "valid": manifest_path(data["dataset"], data["valid"]),
    }


def enhance_inputs(wildcards):
    inputs = {"manifest": manifest_path(wildcards.dataset, wildcards.split)}
    if wildcards.experiment in TRAINED:
        inputs["model"] = f"{RESULTS}/{wildcards.experiment}/model.pt"
    return inputs


def enhance_params(wildcards):
    exp = EXPERIMENTS[wildcards.experiment]
    return canonical_json({"baseline": exp.get("baseline"), "args": exp.get("args", {}),
                           "enhance": {**config["enhance"], **exp.get("enhance", {})}})


def metrics_files():
    return [f"{RESULTS}/{exp}/{ts.dataset}/{ts.split}/metrics.csv" for exp, ts in TARGETS]
