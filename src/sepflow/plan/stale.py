"""No output stands on a changed or missing input, and nothing is deleted to make it so.

A folder a stage wrote (a prepared dataset, an enhanced test set) that differs from its record
(a file deleted, added or renamed by hand; see sepflow.records for what is seen at rest), a
user's folder a preparation read that changed since, and a file that later outputs were made
from but which is gone (Snakemake itself skips a missing intermediate while the outputs after
it exist), are outputs to redo. The workflow hands them to Snakemake as forced outputs while it
builds its DAG, so a dry run shows exactly what a real run will redo, and neither changes a file.
The cost grows with the number of directories, not of files (unless `check_every_file`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sepflow.plan import Plan
from sepflow.plan.graph import jobs
from sepflow.records import folder_changes, source_changes

SHOWN = 3


@dataclass(frozen=True)
class Stale:
    outputs: tuple[str, ...]
    """Outputs whose jobs must run again (what depends on them follows)."""
    reasons: tuple[str, ...]
    """One line per cause, for the user."""


def _listed(items: list[str]) -> str:
    return "; ".join(items[:SHOWN]) + (f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def stale_outputs(plan: Plan) -> Stale:
    graph = list(jobs(plan))
    outputs, reasons = [], []
    every_file = plan.settings.check_every_file
    for job in graph:
        folders = [path for path in job.outputs if plan.layout.record(path) in job.outputs]
        for folder in folders:
            record = plan.layout.record(folder)
            changes = folder_changes(folder, record, every_file)
            if changes:
                outputs.append(record)
                reasons.append(
                    f"{folder} changed since it was made ({_listed(changes)}); it and what depends on it are redone."
                )
            elif job.rule == "prepare":
                dataset = os.path.basename(folder)
                read = source_changes(record, plan.datasets[dataset].inputs, every_file)
                if read:
                    outputs.append(record)
                    reasons.append(
                        f"the files {folder} was prepared from changed ({_listed(read)}); "
                        "it and what depends on it are redone."
                    )
    made_from_missing = {
        path
        for job in graph
        if any(os.path.exists(output) for output in job.outputs)
        for path in job.inputs
        if not os.path.exists(path)
    }
    produced = {output for job in graph for output in job.outputs}
    gone = sorted(made_from_missing & produced)
    if gone:
        outputs += gone
        what = "a file" if len(gone) == 1 else f"{len(gone)} files"
        reasons.append(
            f"{what} that later outputs were made from went missing ({_listed(gone)}); remade, with what depends on it."
        )
    return Stale(tuple(outputs), tuple(reasons))
