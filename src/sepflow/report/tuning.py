"""The report's section for a tuned experiment: its study's trials, the best values, where they
came from, and the optimisation-history and parameter-importance plots."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sepflow.report.html import Section

SHOWN = ("number", "state", "value", "steps", "seconds", "note")


def read_study(files: dict[str, str]) -> dict:
    return json.loads(Path(files["study"]).read_text())


def tuning_section(experiment: str, files: dict[str, str]) -> Section:
    """One tuned experiment: a table of its trials (the best marked), a note and its two plots."""
    study = read_study(files)
    trials = pd.read_csv(files["trials"])
    params = [c for c in trials.columns if c not in (*SHOWN, "slot", "best")]
    table = trials[["number", "state", "value", *params, "steps", "seconds", "note"]].copy()
    table.insert(0, "", trials["best"].map({True: "best", False: ""}))
    best = study["best"]
    values = ", ".join(
        f"{path} = {value:.4g}" if isinstance(value, float) else f"{path} = {value}"
        for path, value in best["params"].items()
    )
    note = (
        f"Best: trial {best['number']}, {study['metric']} {best['value']:.4f} ({study['direction']}, on the validation "
        f"split at step {best['step']} of {study['steps']}), with {values}; its model is {experiment}'s model.pt, "
        f"scored in the tables above. The values ready to paste are in {files['best']}."
    )
    provenance = {
        "study": f"{study['study']} in {study['storage']}",
        "search": f"Optuna {study['optuna']}; sampler {_spec(study['sampler'])}; pruner {_spec(study['pruner'])}",
        "trials": ", ".join(f"{n} {state.lower()}" for state, n in sorted(study["states"].items())),
    }
    section = Section(f"Tuning {experiment}", table, note, provenance)
    section.figures += [
        ("Optimisation history", Path(files["history"])),
        ("Parameter importances (fANOVA)", Path(files["importance"])),
    ]
    return section


def best_history(files: dict[str, str]) -> Path:
    """The training history of the best trial, whose model the experiment keeps."""
    return Path(read_study(files)["best"]["folder"]) / "train" / "history.csv"


def _spec(values: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in values.items() if value is not None)
