# The plan (sepflow.plan): the config read and checked once; every rule asks it what to read,
# which experiments it makes and the JSON spec its job receives.
import shutil
import subprocess
import sys

from sepflow.errors import SepflowError
from sepflow.plan import build_plan
from sepflow.plan.graph import inputs
from sepflow.plan.stale import stale_outputs

try:
    PLAN = build_plan(config)
except SepflowError as exc:
    raise WorkflowError(f"config: {exc}") from None

LAYOUT = PLAN.layout
DATA = config["data_dir"]
RESULTS = config["results_dir"]


wildcard_constraints:
    dataset=r"[A-Za-z0-9_]+",
    split=r"[A-Za-z0-9_]+",
    experiment=r"[A-Za-z0-9_]+",


def made_by(rule):
    """A wildcard constraint: the experiments whose model.pt `rule` makes."""
    return "|".join(PLAN.made_by(rule)) or "^$"


_checked = []


def force_stale_outputs():
    """Outputs standing on a changed or missing input are forced to rerun (with what depends on
    them) while Snakemake builds its DAG: a dry run shows exactly what a real run will redo, and
    no file is deleted or written, in any mode. Once per invocation, in the main process."""
    if _checked or not workflow.is_main_process or workflow.dag is None:
        return
    _checked.append(True)
    stale = stale_outputs(PLAN)
    for reason in stale.reasons:
        print(f"sepflow: {reason}", file=sys.stderr)
    workflow.dag.forcefiles.update(stale.outputs)


def planned(rule):
    """The input function of `rule`: what the plan says its job reads."""

    def job_inputs(wildcards):
        force_stale_outputs()
        return inputs(PLAN, rule, **wildcards)

    return job_inputs


def uses_cuda():
    """Whether GPU jobs ask for a GPU (gpu=1), decided from the config, never by importing
    torch: `cuda` always, `cpu` never, and `auto` on a cluster (`cluster: true`, which
    profiles/slurm sets) always: the DAG is built on a login node without a GPU, and a job
    falls back to CPU where none is. A local `auto` run asks when this machine has an NVIDIA
    GPU, so that a CPU-only laptop's `--resources gpu=1` does not run trainings one at a time."""
    settings = PLAN.settings
    if settings.device != "auto":
        return settings.device == "cuda"
    if settings.cluster:  # set by profiles/slurm: the submitting machine is no guide
        return True
    nvidia_smi = shutil.which("nvidia-smi")
    listed = subprocess.run([nvidia_smi, "-L"], capture_output=True, text=True).stdout if nvidia_smi else ""
    return listed.startswith("GPU")


GPU = 1 if uses_cuda() else 0

# Scheduling: the data first (prepare, manifests), then the trainings, so that the long jobs
# start as soon as their data is ready and baselines, inference and metrics fill the cores
# left over (the demo on 2 cores without it: 5 minutes of baselines' metrics while 7
# trainings waited for their manifests; with trainings and data alike, a pool's manifest
# waited for a training to end).
PRIORITY_DATA = 20
PRIORITY_TRAINING = 10
