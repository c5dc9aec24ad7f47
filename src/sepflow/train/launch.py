"""Training an experiment on one process or on several (the GPUs of one node, or CPU
processes talking gloo), as its recipe's `processes` says.

One process trains in the caller's process, as it always has. N processes are started by
Accelerate's launcher (`accelerate launch --multi_gpu`, i.e. torch.distributed.run): each
runs `python -m sepflow.train.launch JOB.json`, reads the manifests and runs the training
loop as rank k of N. The caller forwards rank 0's output to its log, waits for every rank
and returns the best checkpoint rank 0 wrote.

A signal to the caller (Ctrl-C, SIGTERM from Slurm or a cancelled job) is passed once to
the launcher, which passes it to the ranks; they stop together after the current step,
rank 0 saves the training state (the loop's StopRequest), and the caller waits until the
last rank has closed its output before it raises KeyboardInterrupt.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from sepflow.data.datasets import experiment_data
from sepflow.errors import SepflowError
from sepflow.logs import configure
from sepflow.train.job import TrainJob
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe

logger = logging.getLogger(__name__)
ERROR_PREFIX = "sepflow error: "  # how a rank reports a SepflowError to the caller


def train_job(job: TrainJob, threads: int = 1) -> dict:
    """Train one experiment and return its best model checkpoint; `threads` are the CPU
    threads of the whole job, split evenly among its processes (each one's loader workers
    come from its share)."""
    recipe = job.training_recipe
    if recipe.processes == 1:
        return _train(job, recipe, threads)
    return _launch(job, recipe.processes, threads)


def _train(job: TrainJob, recipe: Recipe, threads: int) -> dict:
    """Train in this process, on `threads` CPU threads (its loader's workers among them)."""
    data = experiment_data(job.data, job.manifests, recipe.segment, recipe.seed)
    return train(
        job.model, job.args, recipe, data, job.out_dir, device=job.device, name=job.experiment, threads=threads
    )


def _free_port() -> int:
    """A port for the ranks' rendezvous, so that trainings on one node do not collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(processes: int, program: list[str]) -> list[str]:
    """`accelerate launch` of N processes on this node, each running `program` (a script and
    its arguments, or "-m", a module and its arguments). Mixed precision is the
    Accelerator's (sepflow.device), not the launcher's."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        *program,
    ]


def _launch(job: TrainJob, processes: int, threads: int) -> dict:
    out_dir = Path(job.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = max(1, int(threads) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    errors, interrupted = [], False
    with tempfile.TemporaryDirectory(prefix="sepflow-launch-") as tmp:
        job_path = Path(tmp) / "job.json"
        job_path.write_text(json.dumps({"job": job.to_json(), "threads": threads}))
        # Its own session: a Ctrl-C in the terminal reaches the ranks once, through us.
        proc = subprocess.Popen(
            launch_command(processes, ["-m", "sepflow.train.launch", str(job_path)]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        while True:
            try:
                for line in proc.stdout:  # EOF once every rank has exited, not only the launcher
                    line = line.rstrip("\n")
                    if line.startswith(ERROR_PREFIX):
                        errors.append(line[len(ERROR_PREFIX) :])
                    else:
                        logger.info(line)
                break
            except KeyboardInterrupt:
                if not interrupted:
                    interrupted = True
                    proc.send_signal(signal.SIGTERM)
        returncode = proc.wait()
    if interrupted:
        raise KeyboardInterrupt(f"training on {processes} processes interrupted")
    if errors:
        raise SepflowError(errors[0])
    if returncode:
        raise RuntimeError(
            f"training on {processes} processes failed (exit code {returncode}); the ranks' output is above in the log"
        )
    return torch.load(out_dir / "best.pt", map_location="cpu", weights_only=True)


def main(job_path: str) -> int:
    """One rank: train as the job says, at the threads the caller gave each process."""
    spec = json.loads(Path(job_path).read_text())
    configure(console=sys.stdout)  # rank 0's lines reach the caller's log through its stdout
    torch.set_num_threads(spec["threads"])
    job = TrainJob.from_json(spec["job"])
    try:
        _train(job, job.training_recipe, spec["threads"])
    except SepflowError as exc:
        print(f"{ERROR_PREFIX}{exc}", flush=True)
        return 2
    except KeyboardInterrupt:
        return 130  # rank 0 has saved the state and said so
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
