"""How a table's numbers were made, printed under it: the run (sepflow's version and
commit, the config's hash) and the task's metrics (packages, versions, modes, resampler,
aggregation), so tables from different runs or papers can be compared honestly."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import sepflow

AGGREGATION = {
    "speech": "per item, then mean over items with the half-width of the Student-t 95% confidence interval; "
    "NaN items left out of the mean and counted as failed; multi-channel items averaged over channels",
    "music": "per track and source: BSSEval v4 median over 1 s frames; per source: median over tracks (SiSEC); "
    "SI-SDR over the whole stem, all channels together",
}


def _package(name: str) -> str:
    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return f"{name} (not installed)"


def music_provenance() -> dict[str, str]:
    """The music metrics' packages (read from the installed distributions, not imported)."""
    return {
        "bss_eval": f"{_package('museval')}: BSSEval v4 (SDR, SIR, SAR, ISR), 1 s windows and hops",
        "si_sdr": "SI-SDR in dB (zero-mean) of the estimate against the reference",
    }


def git_commit(where: str | Path | None = None) -> str:
    """The commit of the git checkout holding sepflow's code, with '+changes' when the tree
    differs from it; 'not a git checkout' otherwise."""
    where = Path(where or Path(sepflow.__file__).parent)

    def run(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    try:
        commit = run("rev-parse", "HEAD")
        return commit + ("+changes" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"


def run_provenance(config_digest: str) -> dict[str, str]:
    """What made this run: sepflow's version and commit and the config's hash (the report
    rule's param: SHA-256 of the config as sorted JSON)."""
    return {"sepflow": f"{sepflow.__version__}, commit {git_commit()}", "config": f"sha256 {config_digest}"}


def external_provenance(facts: dict) -> str:
    """One line of what another toolkit's system ran: package, files, frames, delay, arguments."""
    model = f", model sha256 {facts['model_sha256'][:16]}" if "model_sha256" in facts else ""
    return (
        f"{facts['package']} {facts['version']} (library sha256 {facts['library_sha256'][:16]}{model}), "
        f"{facts['frame']}-sample frames at {facts['library_rate']} Hz, delay {facts['delay_samples']} samples "
        f"({facts['delay_ms']:g} ms) taken off, args {facts['args']}, licence: {facts['licence']}"
    )
