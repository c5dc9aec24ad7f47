# Helpers shared by the rules: config checks, paths, GPU tagging, rule params.
import shutil
import subprocess
import sys
from pathlib import Path

from sepflow.config import (
    canonical_json,
    check_config,
    evaluation_targets,
    pretrained_experiments,
    train_settings,
    trained_experiments,
    training_splits,
)
from sepflow.data.recipes import dataset_splits, get_recipe
from sepflow.errors import SepflowError
from sepflow.files import folder_changes, remove_outputs_missing_inputs

try:
    check_config(config)
except SepflowError as exc:
    raise WorkflowError(f"config: {exc}") from None

DATA = config["data_dir"]
RESULTS = config["results_dir"]
EXPERIMENTS = config["experiments"]
TRAINED = trained_experiments(config)
PRETRAINED = pretrained_experiments(config)
MODELLED = sorted(TRAINED + PRETRAINED)  # the experiments with a model.pt
TARGETS = evaluation_targets(config)
REPORT_FILES = [f"{RESULTS}/report/{name}" for name in ("summary.csv", "summary.md", "metrics.png", "index.html")]


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    split=r"[A-Za-z0-9_]+",
    experiment=r"[A-Za-z0-9_]+",


def made_from():
    """Each file the workflow makes, with the files it is made from (the DAG of the rules
    below, written out for the config at hand)."""
    graph = {}
    for name, cfg in config["datasets"].items():
        for split in dataset_splits(cfg):
            graph[manifest_path(name, split)] = [f"{DATA}/audio/{name}.record.json"]
    for exp in TRAINED:
        graph[f"{RESULTS}/{exp}/model.pt"] = [manifest_path(*split) for split in training_splits(EXPERIMENTS[exp])]
    for exp, ts in TARGETS:
        folder = f"{RESULTS}/{exp}/{ts.dataset}/{ts.split}"
        model = [f"{RESULTS}/{exp}/model.pt"] if exp in MODELLED else []
        graph[f"{folder}/enhanced.record.json"] = [*model, manifest_path(ts.dataset, ts.split)]
        graph[f"{folder}/metrics.csv"] = [f"{folder}/enhanced.record.json", manifest_path(ts.dataset, ts.split)]
    for path in REPORT_FILES:
        graph[path] = [*metrics_files(), *[f"{RESULTS}/{exp}/model.pt" for exp in MODELLED]]
    return graph


def forget_stale_outputs():
    """No output stands on a missing or changed input. A prepared dataset or an enhanced
    folder that differs from its record (a file corrupted, deleted or added by hand) loses
    the record; then every output one of whose inputs is gone is removed too, down to the
    report, so the next run remakes it all instead of calling stale results up to date.
    (Snakemake itself skips a missing intermediate while the outputs after it exist.)
    Models keep their training state: a retrain on unchanged data resumes at its last step."""
    folders = [f"{DATA}/audio/{name}" for name in config["datasets"]]
    folders += [f"{RESULTS}/{exp}/{ts.dataset}/{ts.split}/enhanced" for exp, ts in TARGETS]
    for folder in folders:
        changes = folder_changes(folder, f"{folder}.record.json")
        if changes:
            shown = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
            print(f"sepflow: {folder} changed since it was made ({shown}); it and what depends on it will be redone.",
                  file=sys.stderr)
            Path(f"{folder}.record.json").unlink()
    removed = remove_outputs_missing_inputs(made_from())
    if removed:
        print(f"sepflow: {len(removed)} outputs were made from files that are gone and will be remade "
              f"({', '.join(removed[:3])}{', ...' if len(removed) > 3 else ''}).", file=sys.stderr)


def uses_cuda():
    """Whether GPU jobs ask for a GPU (gpu=1), decided from the config, never by importing
    torch: `cuda` always, `cpu` never, and `auto` on a cluster (`cluster: true`, which
    profiles/slurm sets) always: the DAG is built on a login node without a GPU, and a job
    falls back to CPU where none is. A local `auto` run asks when this machine has an NVIDIA
    GPU, so that a CPU-only laptop's `--resources gpu=1` does not run trainings one at a time."""
    if config["device"] != "auto":
        return config["device"] == "cuda"
    if config.get("cluster"):  # set by profiles/slurm: the submitting machine is no guide
        return True
    nvidia_smi = shutil.which("nvidia-smi")
    listed = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True).stdout if nvidia_smi else ""
    return listed.startswith("GPU")


GPU = 1 if uses_cuda() else 0


def manifest_path(dataset, split):
    return f"{DATA}/manifests/{dataset}/{split}.json"


def recipe_inputs(wildcards):
    """A user's files that a prepared dataset is made from: a change rebuilds the copy."""
    cfg = config["datasets"][wildcards.dataset]
    return get_recipe(cfg["recipe"]).inputs(cfg)


def train_params(wildcards):
    """What training depends on; the global seed unless the experiment sets its own."""
    return canonical_json(train_settings(config, wildcards.experiment))


def train_gpus(wildcards):
    """One GPU per training process (`train: {processes: N}`), when GPU jobs ask for any."""
    return GPU * int(EXPERIMENTS[wildcards.experiment]["train"].get("processes", 1))


def train_inputs(wildcards):
    """The manifests a training reads: its train and valid splits, or the pools it mixes from."""
    return [manifest_path(*split) for split in training_splits(EXPERIMENTS[wildcards.experiment])]


def enhance_inputs(wildcards):
    inputs = {"manifest": manifest_path(wildcards.dataset, wildcards.split)}
    if wildcards.experiment in MODELLED:
        inputs["model"] = f"{RESULTS}/{wildcards.experiment}/model.pt"
    return inputs


def enhance_params(wildcards):
    exp = EXPERIMENTS[wildcards.experiment]
    return canonical_json({"baseline": exp.get("baseline"), "args": exp.get("args", {}),
                           "enhance": {**config["enhance"], **exp.get("enhance", {})}})


def metrics_files():
    return [f"{RESULTS}/{exp}/{ts.dataset}/{ts.split}/metrics.csv" for exp, ts in TARGETS]


if workflow.is_main_process:  # not again in each cluster job, which parses this file too
    forget_stale_outputs()
