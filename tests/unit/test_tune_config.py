"""A `tune:` section is read with the plan: a trial is the experiment with its sampled values
written in at dotted key paths and checked by the code that checks a config, so every mistake in
a search space is one line naming the key, before any job runs."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake_runs import REPO, TINY

from sepflow.errors import SepflowError
from sepflow.plan import build_plan
from sepflow.tune.paths import parse_path, set_at

SEARCHED = {
    "model": "gatewave",
    "args": {"hidden": 4, "depth": 2},
    "data": {"dataset": "demo", "train": "train", "valid": "valid"},
    "train": {
        "steps": 6,
        "batch_size": 2,
        "segment": 0.5,
        "loss": {"name": "sum", "terms": [{"name": "l1", "weight": 1.0}, {"name": "mrstft", "weight": 0.5}]},
        "valid_every": 3,
    },
    "test_sets": ["demo/test"],
    "tune": {
        "params": {
            "train.loss.terms[1].weight": {"type": "float", "low": 0.1, "high": 1.0},
            "train.lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-2, "log": True},
        },
        "metric": "pesq_wb",
        "trials": 4,
    },
}


def config_with(edit=None) -> dict:
    config = copy.deepcopy(TINY)
    config["experiments"] = {"noisy": config["experiments"]["noisy"], "searched": copy.deepcopy(SEARCHED)}
    if edit:
        edit(config["experiments"]["searched"])
    return config


def error_of(edit) -> str:
    with pytest.raises(SepflowError) as caught:
        build_plan(config_with(edit))
    message = str(caught.value)
    assert "\n" not in message
    return message


def search(section: dict) -> dict:
    return section["tune"]["params"]


@pytest.mark.parametrize(
    "edit, says",
    [
        (
            lambda s: search(s).update({"train.lrr": {"type": "float", "low": 0.1, "high": 1.0}}),
            "experiments.searched.tune.params.train.lrr: unknown key (did you mean lr?)",
        ),
        (
            lambda s: search(s).update({"args.hiden": {"type": "int", "low": 4, "high": 8}}),
            "experiments.searched.tune.params.args: got an unexpected keyword argument 'hiden' for model 'gatewave'",
        ),
        (
            lambda s: search(s).update({"train.loss.terms[2].weight": {"type": "float", "low": 0.1, "high": 1.0}}),
            "experiments.searched.tune.params.train.loss.terms[2].weight: train.loss.terms has 2 items; "
            "index 2 is not there",
        ),
        (
            lambda s: search(s).update({"train.lr": {"type": "float", "low": 0.01, "high": 0.001}}),
            "experiments.searched.tune.params.train.lr: low 0.01 is above high 0.001",
        ),
        (
            lambda s: search(s).update({"train.batch_size": {"type": "int", "low": 0, "high": 4}}),
            "experiments.searched.tune.params.train.batch_size must be at least 1, got 0 (with train.batch_size = 0)",
        ),
        (
            lambda s: search(s).update({"train.optimizer": {"type": "categorical", "choices": ["adam", "sgd"]}}),
            "experiments.searched.tune.params.train.optimizer must be adam or adamw, got 'sgd' "
            "(with train.optimizer = 'sgd')",
        ),
        (
            lambda s: search(s).update({"data.train": {"type": "categorical", "choices": ["train"]}}),
            "experiments.searched.tune.params.data.train: search a key under args or train",
        ),
        (
            lambda s: s["tune"].update(metric="sdr"),
            "experiments.searched.tune.metric: 'sdr' is not a validation metric of speech; choose one of "
            "['valid_loss', 'si_snr', 'pesq_wb', 'pesq_nb', 'stoi', 'estoi']",
        ),
        (
            lambda s: s["tune"].update(pruner={"name": "hyperband"}),
            "experiments.searched.tune.pruner.name: input should be 'median', 'halving' or 'none', got 'hyperband'",
        ),
        (
            lambda s: s["tune"].pop("trials"),
            "experiments.searched.tune.trials: missing; how many trials the study runs",
        ),
        (lambda s: s["tune"].update(trail=3), "experiments.searched.tune.trail: unknown key (did you mean trials?)"),
        (
            lambda s: s["train"].update(processes=2, batch_size=2),
            "experiments.searched.train.processes: a tuned experiment trains each trial on one process",
        ),
    ],
)
def test_a_search_space_mistake_names_its_key(edit, says):
    assert says in error_of(edit)


def test_tune_goes_only_beside_a_trained_model():
    def tune_a_baseline(config):
        config["experiments"]["noisy"]["tune"] = SEARCHED["tune"]

    config = config_with()
    tune_a_baseline(config)
    with pytest.raises(SepflowError, match=r"experiments.noisy: give exactly one of .* 'tune' only beside 'model'"):
        build_plan(config)


def test_a_trial_is_the_experiment_with_its_values_written_in_as_the_config_would_give_them():
    plan = build_plan(config_with())
    system = plan.experiment("searched").system
    values = {"train.loss.terms[1].weight": 0.25, "train.lr": 0.002, "args.hidden": 6}
    trial = system.trial(values, "experiments.searched.tune.params")

    written = copy.deepcopy(SEARCHED)
    del written["tune"]
    written["train"]["loss"]["terms"][1]["weight"] = 0.25
    written["train"]["lr"] = 0.002
    written["args"]["hidden"] = 6
    config = config_with()
    config["experiments"]["searched"] = written
    assert trial == build_plan(config).experiment("searched").system


def test_a_trial_trains_the_studys_budget_of_steps():
    config = config_with(lambda s: s["tune"].update(steps=4))
    system = build_plan(config).experiment("searched").system
    assert system.trial({}, "where").train["steps"] == 4
    assert build_plan(config_with()).experiment("searched").system.tune.steps == 6, "default: train.steps"


def test_more_trials_or_another_pruner_continue_the_study_and_another_space_starts_a_new_one():
    def name(edit=None) -> str:
        return build_plan(config_with(edit)).experiment("searched").system.study_name("searched")

    assert name() == name(lambda s: s["tune"].update(trials=9, pruner={"name": "none"}, sampler={"name": "random"}))
    assert name() != name(lambda s: search(s)["train.lr"].update(high=0.1))
    assert name() != name(lambda s: s["train"].update(batch_size=4))


def test_the_tune_preset_searches_demucs_l1_and_mrstft_weights_for_pesq():
    plan = build_plan(yaml.safe_load((REPO / "config/tune.yaml").read_text()))
    system = plan.experiment("demucs_tuned").system
    assert system.base.model == "demucs" and system.tune.metric == "pesq_wb" and system.tune.direction == "maximize"
    assert set(system.tune.params) == {"train.loss.alpha", "train.loss.beta"}
    assert 6 <= system.tune.trials <= 8


@pytest.mark.parametrize(
    "path, parts",
    [("train.lr", ["train", "lr"]), ("train.loss.terms[0].weight", ["train", "loss", "terms", 0, "weight"])],
)
def test_a_dotted_path_reads_as_keys_and_indices(path, parts):
    assert parse_path(path) == parts


def test_setting_a_path_makes_the_mappings_a_default_left_out():
    tree = {"train": {"loss": {"terms": [{"name": "l1"}]}}}
    set_at(tree, "args.hidden", 8, "x")
    set_at(tree, "train.loss.terms[0].weight", 0.5, "x")
    assert tree == {"train": {"loss": {"terms": [{"name": "l1", "weight": 0.5}]}}, "args": {"hidden": 8}}
    with pytest.raises(SepflowError, match=r"x.train.loss.name.x: train.loss.name is 'l1', not a mapping"):
        set_at({"train": {"loss": {"name": "l1"}}}, "train.loss.name.x", 1, "x")
