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


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_commands() if not c.startswith("make ")])
def test_snakemake_command_runs_as_written(project, command):
    words = shlex.split(command)
    assert words[0] == "snakemake", f"{command!r}: this test runs snakemake and make commands; teach it this one"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*words, "-n"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command!r} -n failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
