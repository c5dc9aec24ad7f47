"""A real Snakemake run of a tiny config in a temporary folder, end to end.

One module-scoped run is shared: it checks the report, that a second dry run has nothing to
do, that changing one training parameter reruns exactly that experiment's chain, and that
bad data stops the run with one message naming the file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake_runs import TINY, planned_outputs, sepflow_errors, snakemake, write_config

from sepflow.cli import main


@pytest.fixture(scope="module")
def workdir(tiny_run) -> Path:
    return tiny_run


def test_report_has_finite_metrics_for_every_row(workdir):
    summary = pd.read_csv(workdir / "results/report/summary.csv")
    assert set(summary["experiment"]) == {"noisy", "gating", "deepfilternet3", "rnnoise", "tiny", "other", "tiny_onnx"}
    # composite.m's CSIG: CMGAN's is undefined on the demo's references (digital silence around each utterance)
    metric_columns = ["pesq_wb_mean", "stoi_mean", "si_snr_mean", "si_snr_i_mean", "csig_loizou_mean"]
    assert set(metric_columns) <= set(summary.columns)
    for _, row in summary.iterrows():
        assert all(math.isfinite(row[c]) for c in metric_columns), row.to_dict()
    assert "| tiny" in (workdir / "results/report/summary.md").read_text()
    assert (workdir / "results/report/metrics.png").read_bytes()[:4] == b"\x89PNG"
    per_item = pd.read_csv(workdir / "results/tiny/demo/test/metrics.csv")
    assert len(per_item) == 3
    noisy = pd.read_csv(workdir / "results/noisy/demo/test/metrics.csv")
    assert noisy["si_snr_i"].abs().max() < 1e-3  # the noisy input does not improve on itself


def test_every_rule_logged(workdir):
    assert "step      6/6" in (workdir / "results/tiny/logs/train.log").read_text()
    assert (workdir / "results/tiny/benchmarks/train.tsv").is_file()
    assert (workdir / "results/tiny/train/history.csv").is_file()


def test_second_dry_run_has_nothing_to_do(workdir):
    proc = snakemake(workdir, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_reordered_yaml_changes_nothing(workdir):
    reordered = dict(reversed(list(TINY.items())))
    reordered["experiments"] = {k: dict(reversed(list(v.items()))) for k, v in TINY["experiments"].items()}
    write_config(workdir, reordered)
    try:
        assert planned_outputs(workdir) == set()
    finally:
        write_config(workdir, TINY)


def test_changing_one_training_parameter_reruns_only_its_chain(workdir):
    changed = yaml.safe_load(yaml.safe_dump(TINY))
    changed["experiments"]["tiny"]["train"]["lr"] = 0.002
    write_config(workdir, changed)
    try:
        outputs = planned_outputs(workdir)
    finally:
        write_config(workdir, TINY)
    assert outputs == {
        "results/tiny/model.pt",
        "results/tiny/demo/test/enhanced, results/tiny/demo/test/enhanced.record.json",
        "results/tiny/demo/test/metrics.csv",
        "results/tiny/export",  # tiny's ONNX export, scored as tiny_onnx
        "results/tiny_onnx/demo/test/enhanced, results/tiny_onnx/demo/test/enhanced.record.json",
        "results/tiny_onnx/demo/test/metrics.csv",
        "results/report/summary.csv, results/report/summary.md, results/report/metrics.png, "
        "results/report/index.html, results/report/tables, results/report/plots",
    }


def test_bad_config_value_names_the_key(workdir):
    bad = yaml.safe_load(yaml.safe_dump(TINY))
    bad["experiments"]["tiny"]["model"] = "no_such_model"
    write_config(workdir, bad)
    try:
        proc = snakemake(workdir, "-n", check=False)
    finally:
        write_config(workdir, TINY)
    assert proc.returncode != 0
    assert "experiments.tiny.model: unknown model 'no_such_model'" in proc.stderr + proc.stdout


def job_resources(dry_run: str) -> dict[str, set[str]]:
    """rule name -> the gpu resource values its planned jobs carry."""
    found: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=(?:local)?rule )", dry_run):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        gpu = re.search(r"resources: .*?gpu=(\d)", block)
        if rule and gpu:
            found.setdefault(rule.group(1), set()).add(gpu.group(1))
    return found


@pytest.mark.parametrize("device, trained_gpu", [("cpu", "0"), ("cuda", "1")])
def test_gpu_jobs_are_tagged_only_when_cuda_is_used(workdir, device, trained_gpu):
    proc = snakemake(workdir, "-n", "-F", "--config", f"device={device}")
    resources = job_resources(proc.stdout + proc.stderr)
    assert resources["train_model"] == {trained_gpu}
    assert resources["enhance"] == {"0", trained_gpu}  # baselines never take the GPU


def _dry_run_rules(proc) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, flags=re.M))


@pytest.mark.parametrize(
    "folder, first_rule",
    [
        ("data/audio/demo/test/noisy", "prepare"),
        ("results/tiny/demo/test/enhanced", "enhance"),
    ],
)
def test_a_file_damaged_in_place_in_a_made_folder_is_marked_by_verify_and_redone_with_what_depends_on_it(
    workdir, folder, first_rule
):
    """Damaged in place, a file moves no directory's time: a run at rest does not see it (the
    job that reads it does, tests/test_change_detection.py); `sepflow verify --fix` marks it,
    and the plain rerun redoes it and what depends on it."""
    target = sorted((workdir / folder).glob("*.wav"))[0]
    original = target.read_bytes()
    target.write_bytes(original[:-100])  # damaged after the stage wrote it
    assert main(["verify", "--directory", str(workdir)]) == 1
    assert main(["verify", "--directory", str(workdir), "--fix"]) == 0
    proc = snakemake(workdir)
    out = proc.stdout + proc.stderr
    assert "changed since it was made (changed " in out and target.name in out
    assert {first_rule, "evaluate", "report"} <= _dry_run_rules(proc)
    assert target.read_bytes() == original  # remade, and deterministic
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(workdir, "-n"))


def test_a_corrupt_manifest_then_a_plain_rerun_rebuilds_the_model(workdir):
    manifest = workdir / "data/manifests/demo/train.json"
    model = workdir / "results/tiny/model.pt"
    built = model.stat().st_mtime_ns
    manifest.write_text(manifest.read_text()[:200])
    proc = snakemake(workdir, check=False)
    assert proc.returncode != 0
    message = sepflow_errors(proc)
    assert message and "train.json is not valid JSON" in message[0] and "delete it" in message[0]
    manifest.unlink()  # the error's advice
    assert "train_model" in _dry_run_rules(snakemake(workdir))
    assert model.stat().st_mtime_ns > built
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(workdir, "-n"))


def test_the_exported_model_scores_as_the_model_it_was_exported_from(workdir):
    """tiny_onnx runs tiny's ONNX export through onnxruntime; the card states how tiny was made."""
    import json

    import numpy as np

    model = pd.read_csv(workdir / "results/tiny/demo/test/metrics.csv")
    graph = pd.read_csv(workdir / "results/tiny_onnx/demo/test/metrics.csv")
    assert list(graph["id"]) == list(model["id"])
    assert np.allclose(graph["si_snr"], model["si_snr"], atol=1e-3) and np.allclose(
        graph["stoi"], model["stoi"], atol=1e-4
    )
    card = json.loads((workdir / "results/tiny/export/model_card.json").read_text())
    manifests = {s: json.loads((workdir / f"data/manifests/demo/{s}.json").read_text()) for s in ("train", "valid")}
    assert card["training"]["content_hashes"] == {f"demo/{s}": m["content_hash"] for s, m in manifests.items()}
    assert card["training"]["steps"] == TINY["experiments"]["tiny"]["train"]["steps"]
    assert card["scores"]["demo/test"]["n"] == 3
    assert card["scores"]["demo/test"]["si_snr"] == pytest.approx(model["si_snr"].mean())
