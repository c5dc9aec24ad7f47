"""What a hyper-parameter search costs beyond training its trials: planning, the study's storage,
and, for a finished run, each trial job's time outside its training.

    python benchmarks/tune.py [--config config/tune.yaml] [--repeats 5] [--trials 8] [--run .]

Rows:

- "plan": `build_plan` of the config as it is and with every `tune:` section removed (the same
  experiments trained plainly), interleaved, median of the repeats: the search's plan-time checks
  (each parameter tried at both ends of its range through the config's checks). Snakemake builds
  the plan once per invocation (and once per job on a cluster, where each job parses the Snakefile).
- "journal": in a fresh journal file, what one trial job asks of the storage (open the study,
  find its slot's trials, ask, name its slot, report at each validation, tell), for the 1st and
  the Nth trial (every open replays the journal), and the journal's size after N trials.
- "trial job" (with --run, a finished run's folder): per trial, the job's wall and CPU time
  (Snakemake's benchmark) and, for a complete trial, the training's own seconds (history.csv, the
  objective's measurements excluded) and the rest: process start, imports, the study, reading the
  data, the objective's measurements; and the tune rule's time.

CPU seconds sit beside wall seconds: on a shared, loaded machine the wall time of the same work
varies; CPU time much less.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from sepflow.plan import build_plan


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def untuned(config: dict) -> dict:
    plain = copy.deepcopy(config)
    for section in plain["experiments"].values():
        section.pop("tune", None)
    return plain


def plan_rows(config: dict, repeats: int) -> list[dict]:
    build_plan(config)  # imports
    times = {"with tune:": [], "without tune:": []}
    for _ in range(repeats):
        times["with tune:"].append(timed(lambda: build_plan(config)))
        times["without tune:"].append(timed(lambda: build_plan(untuned(config))))
    return [
        {
            "what": f"plan {name}",
            "wall s": statistics.median(t[0] for t in runs),
            "cpu s": statistics.median(t[1] for t in runs),
        }
        for name, runs in times.items()
    ]


def journal_rows(config: dict, trials: int) -> list[dict]:
    from optuna.trial import TrialState

    from sepflow.plan.jobs import trial_job
    from sepflow.tune.study import distribution
    from sepflow.tune.trial import open_study

    plan = build_plan(config)
    experiment = plan.made_by("tune")[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for slot in range(trials):
            job = trial_job(plan, experiment, slot).model_copy(update={"storage": f"{tmp}/study.journal"})

            def one_trial() -> None:
                study = open_study(job)
                [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("slot") == slot]
                trial = study.ask({path: distribution(spec) for path, spec in job.search.params.items()})
                for key in ("slot", "host", "pid"):
                    trial.set_user_attr(key, slot)
                for step in range(1, 4):
                    trial.report(1.0 / step, step)
                    trial.should_prune()
                study.tell(trial, 1.0, state=TrialState.COMPLETE)

            wall, cpu = timed(one_trial)
            if slot in (0, trials - 1):
                rows.append({"what": f"journal: storage work of trial {slot + 1}", "wall s": wall, "cpu s": cpu})
        size = Path(f"{tmp}/study.journal").stat().st_size
    rows.append({"what": f"journal: {size / 1000:.1f} kB after {trials} trials", "wall s": float("nan")})
    return rows


def run_rows(run: Path, config: dict) -> list[dict]:
    plan = build_plan(config)
    rows = []
    for experiment in plan.made_by("tune"):
        benchmarks = run / plan.layout.results / experiment / "benchmarks"
        for slot in range(plan.experiment(experiment).system.tune.trials):
            job = pd.read_csv(benchmarks / f"tune_trial_{slot}.tsv", sep="\t").iloc[-1]
            record = json.loads((run / plan.layout.trial_record(experiment, slot)).read_text())
            history = run / plan.layout.trial(experiment, slot) / "train" / "history.csv"
            complete = record["state"] == "COMPLETE"  # a pruned trial's last steps are in no history row
            training = pd.read_csv(history)["seconds"].iloc[-1] if complete else float("nan")
            rows.append(
                {
                    "what": f"trial job {slot} (trial {record['number']}, {record['state'].lower()})",
                    "wall s": job["s"],
                    "cpu s": job["cpu_time"],
                    "training s": training,
                    "rest s": job["s"] - training,
                }
            )
        tune = pd.read_csv(benchmarks / "tune.tsv", sep="\t").iloc[-1]
        rows.append({"what": "tune rule (outcome, plots, model.pt)", "wall s": tune["s"], "cpu s": tune["cpu_time"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="config/tune.yaml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--run", type=Path, help="a finished run's folder: per-trial job time outside training")
    args = parser.parse_args()
    torch.set_num_threads(1)  # steady timings on a shared machine (the plan's loss checks run torch)
    config = yaml.safe_load(Path(args.config).read_text())
    rows = plan_rows(config, args.repeats) + journal_rows(config, args.trials)
    if args.run:
        rows += run_rows(args.run, config)
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
