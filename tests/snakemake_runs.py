"""Running the real workflow in a temporary folder, as the workflow tests do."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TINY = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())  # the tiny preset, as users run it


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The repository's workflow run in `workdir`, with `args`."""
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = snakemake_command(workdir, "--cores", "2", "--resources", "gpu=1", *args)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def sepflow_errors(proc: subprocess.CompletedProcess) -> list[str]:
    """The one-line user-error messages a failed run printed to the terminal."""
    return [line for line in proc.stderr.splitlines() if line.startswith("sepflow error")]


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def planned_outputs(workdir: Path) -> set[str]:
    """Output files a dry run would make."""
    proc = snakemake(workdir, "-n")
    return set(re.findall(r"^\s+output: (.+)$", proc.stdout + proc.stderr, flags=re.M))
