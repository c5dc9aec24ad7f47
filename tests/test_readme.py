"""Every command in the README's ```bash blocks works as written.

Snakemake commands run verbatim in a copy of the workflow (Snakefile, rules, config.yaml,
presets) in a temporary folder, with one flag appended, `-n`: a dry run builds the whole DAG
and parses every argument, so a command that argparse or the workflow refuses fails here,
without training five models. `make` commands are checked for their target in the Makefile
(`make demo` is the full pipeline; `make test` is this suite).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from snakemake_runs import REPO

WORKFLOW_FILES = ("Snakefile", "config.yaml", "workflow", "config", "envs", "profiles")


def readme_commands() -> list[str]:
    """Each line of each ```bash block, comments and blank lines dropped."""
    blocks = re.findall(r"^```bash\n(.*?)^```", (REPO / "README.md").read_text(), flags=re.M | re.S)
    return [
        " ".join(shlex.split(line, comments=True))
        for block in blocks
        for line in block.splitlines()
        if shlex.split(line, comments=True)
    ]


def make_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), flags=re.M))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the workflow, as a user's checkout is, without data or results."""
    root = tmp_path_factory.mktemp("readme")
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy(source, root / name)
    return root


def test_the_readme_has_commands():
    commands = readme_commands()
    assert any(c.startswith("snakemake ") for c in commands) and any(c.startswith("make ") for c in commands)


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("make ")])
def test_make_command_names_a_target(command):
    targets = shlex.split(command)[1:]
    assert set(targets) <= make_targets(), f"{command!r}: the Makefile has no target {set(targets) - make_targets()}"


@pytest.fixture(scope="module")
def user_files(project) -> Path:
    """What the README's `sepflow` commands name, made small: a trained-model checkpoint
    (an untrained tcm_unet: the commands' plumbing is under test, not its quality), a folder
    of recordings and their clean references."""
    import numpy as np
    import torch
    from conftest import tone_speech

    from sepflow.audio import write_audio
    from sepflow.models import build_model
    from sepflow.models.checkpoint import model_checkpoint

    class Speech:
        sample_rate, task, sources, channels = 16000, "speech", ("speech",), 1

    args = {"tcm_channels": 32, "tcm_hidden": 8}
    torch.manual_seed(0)
    checkpoint = model_checkpoint("tcm_unet", args, Speech, build_model("tcm_unet", **args))
    (project / "results/tcm_unet").mkdir(parents=True)
    torch.save({**checkpoint, "step": 1, "valid_loss": 0.0}, project / "results/tcm_unet/model.pt")
    rng = np.random.default_rng(0)
    for name in ("talk", "call"):
        clean = tone_speech(rng, 1.5)
        write_audio(project / "references" / f"{name}.wav", clean, 16000)
        write_audio(project / "recordings" / f"{name}.wav", clean + rng.normal(0, 0.02, clean.size), 16000)
    return project


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("sepflow ")])
def test_sepflow_command_runs_as_written(user_files, command):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(shlex.split(command), cwd=user_files, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command!r} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_commands() if not c.startswith(("make ", "sepflow "))])
def test_snakemake_command_runs_as_written(project, command):
    words = shlex.split(command)
    assert words[0] == "snakemake", f"{command!r}: this test runs snakemake and make commands; teach it this one"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*words, "-n"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command!r} -n failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
