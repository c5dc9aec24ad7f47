"""The tiny config through `--profile profiles/slurm` on a real single-node Slurm.

The fixture starts munged, slurmctld and slurmd on this machine (Debian's packages, installed
as root when missing), with 2 CPUs, a CPU and a GPU partition, one fake GPU as a GRES (an
empty file stands for its device) and no accounting, so the profile's `squeue` status command is the one
that works. The workflow runs with `device: auto`, so the training job asks for a GPU as a
cluster run would; the fake GPU lets Slurm schedule it and the job runs on CPU.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake_runs import REPO, TINY, snakemake_command, write_config

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
COMMANDS = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol", "scancel"]
NODE = "node1"
CPU_PARTITION = "cpuq"
GPU_PARTITION = "gpuq"
ACCOUNT = "lab"
STEPS = 300  # long enough to be stopped once while it runs
MARKER = "# written by sepflow tests/test_slurm.py, removed when it ends"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def program(name: str) -> str:
    """A command's path: daemons live in /usr/sbin, which a user's PATH may lack."""
    return shutil.which(name) or f"/usr/sbin/{name}"


def install_slurm() -> None:
    """Install Slurm and munge with apt when missing; skip where that cannot be done."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a local Slurm cluster runs its daemons as root on Linux: run the tests as root")
    if all(Path(program(cmd)).exists() for cmd in COMMANDS):
        return
    if not shutil.which("apt-get"):
        pytest.skip(
            "a local Slurm needs Debian's slurmctld, slurmd, slurm-client and munge: "
            "not installed, and there is no apt-get to install them"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    subprocess.run(["apt-get", *lock, "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
        check=True,
        env=env,
        capture_output=True,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {seconds} s")


def slurm_conf(root: Path, munge_socket: Path) -> str:
    return f"""\
{MARKER}
ClusterName=sepflowtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=3600
ReturnToService=2
GresTypes=gpu
NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={NODE} CPUs=2 RealMemory=64000 Gres=gpu:1 State=UNKNOWN
PartitionName={CPU_PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName={GPU_PARTITION} Nodes={NODE} MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node Slurm; yields the environment that reaches it.

    Its configuration goes where Slurm looks by default, /etc/slurm: the plugin's job step
    removes SLURM_* variables (SLURM_CONF too) before its `srun`, so a configuration found
    only through SLURM_CONF is lost inside the jobs."""
    install_slurm()
    conf_dir = Path("/etc/slurm")
    if (conf_dir / "slurm.conf").exists() and MARKER not in (conf_dir / "slurm.conf").read_text():
        pytest.skip("this machine has its own /etc/slurm/slurm.conf; the test cluster would replace it")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir()
    munge_socket = root / "munge" / "munge.socket"
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run([program("mungekey"), "--create", f"--keyfile={key}"], check=True)
    (root / "nvidia0").touch()  # Slurm drops a GPU without a device file; this one is never opened
    conf_dir.mkdir(exist_ok=True)
    (conf_dir / "slurm.conf").write_text(slurm_conf(root, munge_socket))
    (conf_dir / "gres.conf").write_text(f"{MARKER}\nAutoDetect=off\nNodeName={NODE} Name=gpu File={root}/nvidia0\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
    procs = []
    logs = []

    def start(name: str, *args: str) -> None:
        log = open(root / f"{name}.out", "w")
        logs.append(log)
        procs.append(subprocess.Popen([program(name), *args], env=env, stdout=log, stderr=subprocess.STDOUT))

    def sinfo_state() -> str:
        proc = subprocess.run(["sinfo", "-h", "-n", NODE, "-o", "%T"], env=env, capture_output=True, text=True)
        return proc.stdout.strip()

    try:
        start(
            "munged",
            "--foreground",
            "--force",
            f"--socket={munge_socket}",
            f"--pid-file={root}/munge/munged.pid",
            f"--log-file={root}/munge/munged.log",
            f"--seed-file={root}/munge/munged.seed",
            f"--key-file={key}",
        )
        wait_for(munge_socket.exists, "munged")
        start("slurmctld", "-D", "-i")
        wait_for(
            lambda: subprocess.run(["scontrol", "ping"], env=env, capture_output=True).returncode == 0, "slurmctld"
        )
        start("slurmd", "-D", "-N", NODE)
        wait_for(lambda: sinfo_state() == "idle", "slurmd (node idle)")
        yield env
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        for name in ("slurm.conf", "gres.conf"):
            (conf_dir / name).unlink(missing_ok=True)


def cluster_profile(folder: Path) -> dict:
    """profiles/slurm as a user fills it in: this cluster's account and partitions set once.
    Only the first status check comes sooner, so that the test waits less."""
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    for placeholder, value in (
        ("SET_ONCE_your_account", ACCOUNT),
        ("SET_ONCE_cpu_partition", CPU_PARTITION),
        ("SET_ONCE_gpu_partition", GPU_PARTITION),
    ):
        assert text.count(placeholder) == 1, f"{placeholder} is not set exactly once"
        text = text.replace(placeholder, value)
    profile = yaml.safe_load(text)
    profile["slurm-init-seconds-before-status-checks"] = 2
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return profile


def scontrol_jobs(env: dict) -> list[dict[str, str]]:
    """Every job slurmctld still knows (finished ones for MinJobAge seconds), in submission
    order; the plugin's comment names each one `rule_<rule>[_wildcards_<values>]`."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], env=env, capture_output=True, text=True, check=True).stdout
    jobs = [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.splitlines() if line.strip()]
    return sorted(jobs, key=lambda job: int(job["JobId"]))


def minutes(timelimit: str) -> int:
    """Slurm's [days-]hours:minutes:seconds as minutes."""
    days, _, clock = timelimit.rpartition("-")
    hours, mins, _ = (int(part) for part in clock.split(":"))
    return int(days or 0) * 1440 + hours * 60 + mins


def term_training_when_it_runs(proc: subprocess.Popen, train_log: Path, env: dict) -> str:
    """Once the training has logged a step, send SIGTERM to its job's steps the way Slurm's
    --signal warning does (`scancel --signal=TERM`: the job steps, not the batch shell).
    Returns the job id it signalled."""
    while proc.poll() is None:
        if train_log.is_file() and re.search(r"step +\d+/", train_log.read_text()):
            queue = subprocess.run(
                ["squeue", "-h", "-o", "%i|%k"], env=env, capture_output=True, text=True, check=True
            ).stdout
            job_id = next(
                line.split("|")[0] for line in queue.splitlines() if line.endswith("|rule_train_model_wildcards_tiny")
            )
            subprocess.run(["scancel", "--signal=TERM", job_id], env=env, check=True)
            return job_id
        time.sleep(0.2)
    raise AssertionError("the workflow ended before the training logged a step")


@pytest.fixture(scope="module")
def cluster_run(slurm, tmp_path_factory):
    """The tiny config (a baseline and one trained model) run to its report through the
    Slurm profile, the training stopped once by SIGTERM as at its time limit and resumed by
    the profile's retry. Returns the working folder, the profile, the jobs and the run's log."""
    workdir = tmp_path_factory.mktemp("tiny_slurm")
    config = copy.deepcopy(TINY)
    config["device"] = "auto"  # on a cluster: ask for a GPU, use CUDA if the node has it
    config["experiments"] = {name: config["experiments"][name] for name in ("noisy", "tiny")}
    config["experiments"]["tiny"]["train"].update(steps=STEPS, valid_every=STEPS // 2, log_every=5)
    write_config(workdir, config)
    profile = cluster_profile(workdir / "profile")
    cmd = snakemake_command(workdir, "--profile", str(workdir / "profile"), "--verbose")
    started = time.monotonic()
    with open(workdir / "snakemake.log", "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=slurm, stdout=out, stderr=subprocess.STDOUT)
        try:
            signalled = term_training_when_it_runs(proc, workdir / "results/tiny/logs/train.log", slurm)
            proc.wait(timeout=800)
        finally:
            proc.kill()
    log = (workdir / "snakemake.log").read_text()
    print(f"snakemake --profile profiles/slurm: {time.monotonic() - started:.0f} s")
    assert proc.returncode == 0, log[-6000:]
    return workdir, profile, scontrol_jobs(slurm), log, signalled


def only(jobs: list[dict[str, str]], comment: str) -> dict[str, str]:
    (job,) = [job for job in jobs if job["Comment"] == comment]
    return job


def test_report_finished_through_slurm(cluster_run):
    workdir, _, jobs, _, signalled = cluster_run
    summary = pd.read_csv(workdir / "results/report/summary.csv")
    assert set(summary["experiment"]) == {"noisy", "tiny"}
    assert [job["JobState"] for job in jobs if job["JobId"] != signalled] == ["COMPLETED"] * (len(jobs) - 1)
    assert {job["Comment"].split("_wildcards_")[0] for job in jobs} == {
        "rule_prepare",
        "rule_manifest",
        "rule_train_model",
        "rule_enhance",
        "rule_evaluate",
        "rule_report",
    }


def test_training_stopped_by_sigterm_resumes_in_the_retry(cluster_run):
    workdir, _, jobs, _, signalled = cluster_run
    train_jobs = [job for job in jobs if job["Comment"] == "rule_train_model_wildcards_tiny"]
    assert [job["JobId"] for job in train_jobs][0] == signalled
    assert [job["JobState"] for job in train_jobs] == ["FAILED", "COMPLETED"]
    # Snakemake empties a job's log before the retry; the resumed run names the step it got.
    log = (workdir / "results/tiny/logs/train.log").read_text()
    stopped = int(re.search(r"resuming from results/tiny/train/last.pt at step (\d+);", log).group(1))
    assert 0 < stopped < STEPS and stopped % (STEPS // 2), "state saved by SIGTERM, not by a validation"
    assert f"step {STEPS:>6}/{STEPS}" in log
    history = pd.read_csv(workdir / "results/tiny/train/history.csv")
    assert list(history["step"]) == [STEPS // 2, STEPS]


def test_training_job_got_the_gpu_request_the_profile_states(cluster_run):
    _, profile, jobs, _, _ = cluster_run
    stated = profile["set-resources"]["train_model"]
    for train in [job for job in jobs if job["Comment"] == "rule_train_model_wildcards_tiny"]:
        assert train["Partition"] == GPU_PARTITION == stated["slurm_partition"]
        assert train["Account"] == ACCOUNT
        assert train["TresPerJob"] == "gres:gpu:1"
        assert minutes(train["TimeLimit"]) == stated["runtime"]
        assert train["MinMemoryNode"] == f"{stated['mem_mb']}M"
    trained_inference = only(jobs, "rule_enhance_wildcards_tiny_demo_test")
    assert trained_inference["Partition"] == GPU_PARTITION
    assert trained_inference["TresPerJob"] == "gres:gpu:1"


def test_cpu_jobs_ask_for_no_gpu(cluster_run):
    _, profile, jobs, _, _ = cluster_run
    for comment in ("rule_prepare_wildcards_demo", "rule_evaluate_wildcards_tiny_demo_test", "rule_report"):
        assert only(jobs, comment)["Partition"] == CPU_PARTITION, comment
        assert "TresPerJob" not in only(jobs, comment), comment
    assert "TresPerJob" not in only(jobs, "rule_enhance_wildcards_noisy_demo_test")
    evaluate = only(jobs, "rule_evaluate_wildcards_tiny_demo_test")
    assert evaluate["MinMemoryNode"] == f"{profile['set-resources']['evaluate']['mem_mb']}M"
    assert evaluate["CPUs/Task"] == str(TINY["threads"]["evaluate"])


def test_sbatch_line_of_training_asks_for_gpu_and_grace(cluster_run):
    log = cluster_run[3]
    calls = [line.split("sbatch call: ", 1)[1] for line in log.splitlines() if "sbatch call: " in line]
    train = [call for call in calls if "rule_train_model" in call]
    assert len(train) == 2, calls  # the first attempt and its retry
    print(f"sbatch line of the training job: {train[0]}")
    for call in train:
        assert " --gpus=1" in call
        assert " --signal=TERM@300" in call
        assert f" -p {GPU_PARTITION}" in call and f" -A {ACCOUNT}" in call


def test_job_status_came_from_squeue(cluster_run):
    """Without accounting `sacct` fails: the profile's status command must be the one used."""
    log = cluster_run[3]
    commands = set(re.findall(r"Status query timing \(cycle\): command=(\w+)", log))
    assert commands == {"squeue"}


SEARCH_STEPS = 300  # long enough for a trial to be stopped once while it runs


def study_of(workdir: Path, config: dict):
    """The searched experiment's Optuna study, read from its journal (as any process may)."""
    import optuna

    from sepflow.plan import build_plan
    from sepflow.tune.study import open_storage

    name = build_plan(config).experiment("searched").system.study_name("searched")
    return optuna.load_study(study_name=name, storage=open_storage(str(workdir / "studies/searched.journal")))


def term_a_trial_when_it_reports(proc: subprocess.Popen, workdir: Path, config: dict, env: dict) -> int:
    """Once a trial has reported a validation, SIGTERM its Slurm job's steps as a time limit's
    warning does; returns the trial's number."""
    journal = workdir / "studies/searched.journal"
    while proc.poll() is None:
        if journal.exists():
            running = [t for t in study_of(workdir, config).get_trials() if t.state.name == "RUNNING"]
            reported = [t for t in running if t.intermediate_values]
            if reported:
                comment = f"rule_tune_trial_wildcards_searched_{reported[0].user_attrs['slot']}"
                queue = subprocess.run(
                    ["squeue", "-h", "-o", "%i|%k"], env=env, capture_output=True, text=True, check=True
                ).stdout
                job_id = next(line.split("|")[0] for line in queue.splitlines() if line.endswith(f"|{comment}"))
                subprocess.run(["scancel", "--signal=TERM", job_id], env=env, check=True)
                return reported[0].number
        time.sleep(0.5)
    raise AssertionError("the workflow ended before a trial reported")


@pytest.fixture(scope="module")
def cluster_search(slurm, tmp_path_factory):
    """A search of two trials run through the Slurm profile, one trial stopped by SIGTERM as at
    its time limit and continued by the profile's retry."""
    workdir = tmp_path_factory.mktemp("search_slurm")
    config = copy.deepcopy(TINY)
    config["device"] = "auto"
    config["experiments"] = {
        "noisy": TINY["experiments"]["noisy"],
        "searched": {
            **copy.deepcopy(TINY["experiments"]["tiny"]),
            "tune": {
                "params": {"train.lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True}},
                "metric": "valid_loss",
                "trials": 2,
            },
        },
    }
    config["experiments"]["searched"]["train"].update(steps=SEARCH_STEPS, valid_every=SEARCH_STEPS // 6, log_every=5)
    write_config(workdir, config)
    profile = cluster_profile(workdir / "profile")
    cmd = snakemake_command(workdir, "all_tuned", "--profile", str(workdir / "profile"), "--verbose")
    with open(workdir / "snakemake.log", "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=slurm, stdout=out, stderr=subprocess.STDOUT)
        try:
            stopped = term_a_trial_when_it_reports(proc, workdir, config, slurm)
            proc.wait(timeout=800)
        finally:
            proc.kill()
    log = (workdir / "snakemake.log").read_text()
    assert proc.returncode == 0, log[-6000:]
    return workdir, config, profile, scontrol_jobs(slurm), stopped


def test_search_trials_ran_as_slurm_jobs_tagged_like_training(cluster_search):
    _, _, profile, jobs, _ = cluster_search
    stated = profile["set-resources"]["tune_trial"]
    trials = [job for job in jobs if job["Comment"].startswith("rule_tune_trial_wildcards_searched_")]
    assert {job["Comment"] for job in trials} == {f"rule_tune_trial_wildcards_searched_{n}" for n in (0, 1)}
    for job in trials:
        assert job["Partition"] == GPU_PARTITION == stated["slurm_partition"]
        assert job["TresPerJob"] == "gres:gpu:1"
        assert minutes(job["TimeLimit"]) == stated["runtime"]
    assert only(jobs, "rule_tune_wildcards_searched")["Partition"] == CPU_PARTITION


def test_a_trial_stopped_by_slurm_is_failed_and_its_parameters_resumed_by_the_retry(cluster_search):
    workdir, config, _, jobs, stopped = cluster_search
    trials = study_of(workdir, config).get_trials()
    assert trials[stopped].state.name == "FAIL"
    (again,) = [t for t in trials if t.user_attrs.get("retry_of") == stopped]
    assert again.params == trials[stopped].params and again.state.name == "COMPLETE"
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE", "FAIL"]
    slot = again.user_attrs["slot"]
    states = [job["JobState"] for job in jobs if job["Comment"] == f"rule_tune_trial_wildcards_searched_{slot}"]
    assert states == ["FAILED", "COMPLETED"]
    log = (workdir / f"results/searched/logs/tune_trial_{slot}.log").read_text()
    assert f"resuming trial {stopped}'s training at step " in log
    assert (workdir / "results/searched/model.pt").is_file()
