"""Where every file of a run lives: one spelling of each path, for the rules (as patterns with
{wildcards}), the plan's graph and the jobs."""

from __future__ import annotations

from dataclasses import dataclass

from sepflow.specs import SplitRef

REPORT_FILES = ("summary.csv", "summary.md", "metrics.png", "index.html")
TUNE_FILES = {
    "trials": "trials.csv",
    "best": "best.yaml",
    "study": "study.json",
    "history": "optimization_history.png",
    "importance": "param_importances.png",
}
"""A search's outcome under results/{experiment}/tune/, beside its model.pt."""


@dataclass(frozen=True)
class Layout:
    data: str
    results: str
    studies: str = "studies"

    # datasets
    def raw(self, dataset: str) -> str:
        return f"{self.data}/raw/{dataset}"

    def prepared(self, dataset: str) -> str:
        return f"{self.data}/audio/{dataset}"

    def record(self, folder: str) -> str:
        """The record a stage writes beside a folder it made (its files' sizes and times)."""
        return f"{folder}.record.json"

    def manifests(self) -> str:
        return f"{self.data}/manifests"

    def manifest(self, split: SplitRef | str, name: str | None = None) -> str:
        """data/manifests/{dataset}/{split}.json, of a SplitRef or of (dataset, split) patterns."""
        dataset, split_name = (split.dataset, split.split) if isinstance(split, SplitRef) else (split, name)
        return f"{self.manifests()}/{dataset}/{split_name}.json"

    def data_log(self, dataset: str, name: str) -> str:
        return f"{self.data}/logs/{dataset}/{name}.log"

    def data_benchmark(self, dataset: str, name: str) -> str:
        return f"{self.data}/benchmarks/{dataset}/{name}.tsv"

    # experiments
    def model(self, experiment: str) -> str:
        return f"{self.results}/{experiment}/model.pt"

    def export(self, experiment: str) -> str:
        """results/{experiment}/export: the ONNX graphs and model card of its model.pt."""
        return f"{self.results}/{experiment}/export"

    def train_dir(self, experiment: str) -> str:
        return f"{self.results}/{experiment}/train"

    def scored(self, experiment: str, split: SplitRef | str, name: str | None = None) -> str:
        """results/{experiment}/{dataset}/{split}: one test set's outputs."""
        dataset, split_name = (split.dataset, split.split) if isinstance(split, SplitRef) else (split, name)
        return f"{self.results}/{experiment}/{dataset}/{split_name}"

    def enhanced(self, experiment: str, split: SplitRef | str, name: str | None = None) -> str:
        return f"{self.scored(experiment, split, name)}/enhanced"

    def metrics(self, experiment: str, split: SplitRef | str, name: str | None = None) -> str:
        return f"{self.scored(experiment, split, name)}/metrics.csv"

    def log(self, experiment: str, name: str) -> str:
        return f"{self.results}/{experiment}/logs/{name}.log"

    def benchmark(self, experiment: str, name: str) -> str:
        return f"{self.results}/{experiment}/benchmarks/{name}.tsv"

    # hyper-parameter searches
    def tune(self, experiment: str) -> str:
        return f"{self.results}/{experiment}/tune"

    def tune_files(self, experiment: str) -> dict[str, str]:
        return {key: f"{self.tune(experiment)}/{name}" for key, name in TUNE_FILES.items()}

    def trial(self, experiment: str, slot: int | str) -> str:
        """A trial slot's folder (its training); `trial_record` says which trial filled it."""
        return f"{self.tune(experiment)}/trials/{slot}"

    def trial_record(self, experiment: str, slot: int | str) -> str:
        return f"{self.trial(experiment, slot)}.json"

    def study(self, experiment: str) -> str:
        """The default journal of an experiment's study: outside results/ and data/, which the
        workflow writes, checks and may clean, so no rerun or cleanup loses a trial."""
        return f"{self.studies}/{experiment}.journal"

    # the report
    def report(self, name: str = "") -> str:
        return f"{self.results}/report/{name}".rstrip("/")

    def report_files(self) -> list[str]:
        return [self.report(name) for name in REPORT_FILES]
