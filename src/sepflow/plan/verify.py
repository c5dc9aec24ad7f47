"""`sepflow verify`: the full check that the per-directory check at each invocation leaves out.

Every file of every folder a stage recorded is stated (a file edited in place, which moves no
directory's time, is seen by its size or time), the user's files a preparation read as well,
and with `hashes` every file a manifest lists is hashed against the manifest (an edit that kept
size and time). With `fix`, what is found is written into the folders' records: the next run
redoes them and what depends on them; nothing is deleted.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sepflow.data.manifest import file_hash, read_manifest
from sepflow.plan import Plan
from sepflow.plan.graph import jobs
from sepflow.records import folder_changes, mark_stale, source_changes


@dataclass(frozen=True)
class Finding:
    folder: str
    record: str
    changes: tuple[str, ...]


def _hash_changes(plan: Plan, dataset: str, threads: int) -> list[str]:
    """'changed X' for each file of the dataset's manifests whose content hash differs."""
    expected = {}
    for split in plan.splits():
        path = plan.layout.manifest(split)
        if split.dataset == dataset and os.path.isfile(path):
            manifest = read_manifest(path, check_files=False)
            for item in manifest.items:
                for key, file in manifest.paths(item).items():
                    expected[file] = item["files"][key]["hash"]
    folder = Path(plan.layout.prepared(dataset))
    present = [file for file in sorted(expected) if file.is_file()]  # a missing one is a listing's finding
    with ThreadPoolExecutor(threads) as pool:
        hashes = dict(zip(present, pool.map(file_hash, present), strict=True))
    return [
        f"changed {file.relative_to(folder) if file.is_relative_to(folder) else file} (content hash)"
        for file, digest in hashes.items()
        if digest != expected[file]
    ]


def verify(plan: Plan, hashes: bool = False, fix: bool = False, threads: int = 1) -> list[Finding]:
    """What changed in every recorded folder (and, with `hashes`, in every manifest's files);
    with `fix`, marked in the records so that the next run redoes it."""
    findings = []
    for job in jobs(plan):
        for folder in (path for path in job.outputs if plan.layout.record(path) in job.outputs):
            record = plan.layout.record(folder)
            if not os.path.isfile(record):
                continue
            changes = folder_changes(folder, record, every_file=True)  # with what an earlier --fix marked
            if job.rule == "prepare":
                dataset = os.path.basename(folder)
                changes += [f"{c} (read from)" for c in source_changes(record, plan.datasets[dataset].inputs, True)]
                if hashes:
                    changes += _hash_changes(plan, dataset, threads)
            if changes:
                findings.append(Finding(folder, record, tuple(dict.fromkeys(changes))))
    if fix:
        for finding in findings:
            mark_stale(finding.record, list(finding.changes))
    return findings
