"""`sepflow verify`: check every file of a project against the records and manifests its
stages wrote (each invocation of the workflow only looks at directories), and with --fix
mark what changed so that the next `snakemake` redoes it and what depends on it."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import yaml

from sepflow.errors import SepflowError

logger = logging.getLogger(__name__)
SHOWN = 5


def project_config(directory: Path, configfiles: list[str]) -> dict:
    """The config a `snakemake` run in `directory` reads: config.yaml, then each --configfile
    merged over it as Snakemake merges them."""
    from snakemake.utils import update_config

    config: dict = {}
    for name in ["config.yaml", *configfiles]:
        path = directory / name if not os.path.isabs(name) else Path(name)
        if not path.is_file():
            raise SepflowError(f"no config {path}; run sepflow verify in the project folder or give --directory.")
        update_config(config, yaml.safe_load(path.read_text()) or {})
    return config


def verify_project(args: argparse.Namespace) -> int:
    from sepflow.plan import build_plan
    from sepflow.plan.verify import verify

    directory = Path(args.directory)
    plan = build_plan(project_config(directory, args.configfile))
    cwd = os.getcwd()
    os.chdir(directory)  # the plan's paths are relative to the project, as Snakemake's are
    try:
        findings = verify(plan, hashes=args.hash, fix=args.fix, threads=args.threads)
    finally:
        os.chdir(cwd)
    for finding in findings:
        shown = "; ".join(finding.changes[:SHOWN])
        more = f"; and {len(finding.changes) - SHOWN} more" if len(finding.changes) > SHOWN else ""
        logger.info("%s: %s%s", finding.folder, shown, more)
    if not findings:
        logger.info("every recorded folder is as its stages wrote it%s", " (contents hashed)" if args.hash else "")
        return 0
    if args.fix:
        logger.info("marked %d folder(s) as changed: `snakemake` redoes them and what depends on them", len(findings))
        return 0
    logger.info("%d folder(s) changed: `sepflow verify --fix` marks them for the next run to redo", len(findings))
    return 1
