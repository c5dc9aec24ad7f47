"""Every config mistake is caught before the first job runs, as one line naming the key.

Most mistakes go through sepflow.config directly (the schema, then check_config, as the
Snakefile and common.smk call them); two go through a real `snakemake -n` to show what the
user sees: one line, not a schema dump or a traceback.
"""

from __future__ import annotations

import copy
import json
import re
import shutil

import pytest
import yaml
from snakemake_runs import REPO, TINY, snakemake, write_config

from sepflow.config import (
    check_config,
    evaluation_targets,
    input_experiments,
    train_settings,
    trained_experiments,
    training_splits,
    validate_schema,
)
from sepflow.data.demo.settings import SUPPORTED_SAMPLE_RATES
from sepflow.errors import SepflowError

MUSIC = {"recipe": "musdb", "sample_rate": 44100, "variant": "preview"}


def tiny() -> dict:
    return copy.deepcopy(TINY)


def error_of(config: dict) -> str:
    """The one message a bad config stops with (schema first, then the cross-checks)."""
    with pytest.raises(SepflowError) as caught:
        validate_schema(config)
        check_config(config)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_presets_pass():
    validate_schema(tiny())
    check_config(tiny())
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    validate_schema(default)
    check_config(default)


def changed(edit) -> dict:
    config = tiny()
    edit(config)
    return config


EXPERIMENTS = lambda c: c["experiments"]  # noqa: E731


@pytest.mark.parametrize(
    "edit, key, says",
    [
        (
            lambda c: EXPERIMENTS(c)["tiny"]["args"].update(hiden=8),
            "experiments.tiny.args:",
            "unexpected keyword argument 'hiden' for model 'gatewave'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"]["loss"].update(name="l1_mrstft", alpah=1.0),
            "experiments.tiny.train.loss:",
            "unexpected keyword argument 'alpah' for loss 'l1_mrstft'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"]["loss"].update(
                name="sum", terms=[{"name": "l1"}, {"name": "stoy"}]
            ),
            "experiments.tiny.train.loss:",
            "terms[1]: unknown loss 'stoy'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(segment=0.25, loss={"name": "stoi"}),
            "experiments.tiny.train.loss:",
            "the STOI loss needs segments of at least",
        ),
        (
            lambda c: EXPERIMENTS(c)["gating"].update(args={"stationnary": True}),
            "experiments.gating.args:",
            "'stationnary' for baseline 'spectral_gating'",
        ),
        (
            lambda c: EXPERIMENTS(c)["noisy"].update(args={"gain": 2}),
            "experiments.noisy.args:",
            "'gain' for baseline 'noisy'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(step={"name": "gan"}),
            "experiments.tiny.train.step.name:",
            "unknown step 'gan'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(step={"name": "supervised", "warmup": 10}),
            "experiments.tiny.train.step:",
            "'warmup' for step 'supervised'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(stpes=10),
            "experiments.tiny.train:",
            "unknown key(s) ['stpes']",
        ),
        (lambda c: c["datasets"]["demo"].update(snr_range=[10, 0]), "datasets.demo:", "snr_range is empty"),
        (
            lambda c: c["datasets"]["demo"].update(reverb_fraction=1.5),
            "datasets.demo:",
            "reverb_fraction must be a number in [0, 1]",
        ),
        (
            lambda c: c["datasets"]["demo"].update(sample_rate=12345),
            "datasets.demo.sample_rate:",
            "12345 Hz is not supported",
        ),
        (
            lambda c: EXPERIMENTS(c)["noisy"].update(test_sets=["demo/pool_noise"]),
            "experiments.noisy.test_sets:",
            "demo/pool_noise is a pool",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["data"].update(train="pool_clean"),
            "experiments.tiny.data.train:",
            "demo/pool_clean is a pool",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"].update(test_sets=["demo/tset"]),
            "experiments.tiny.test_sets:",
            "has no split 'tset'",
        ),
        (
            lambda c: c["enhance"].update(overlap_seconds=1.0),
            "enhance.overlap_seconds:",
            "must be shorter than chunk_seconds",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"].update(enhance={"chunk_seconds": 2.0, "overlap_seconds": 3.0}),
            "experiments.tiny.enhance.overlap_seconds:",
            "must be shorter than chunk_seconds (2.0 s)",
        ),
        (lambda c: c.update(only=["tiny", "demcus"]), "only:", "no experiment 'demcus'"),
    ],
)
def test_a_mistake_names_its_key(edit, key, says):
    message = error_of(changed(edit))
    assert message.startswith(key) and says in message, message


def test_a_music_test_set_for_a_speech_model_is_refused():
    config = tiny()
    config["datasets"]["songs"] = MUSIC
    config["experiments"]["tiny"]["test_sets"] = ["songs/test"]
    message = error_of(config)
    assert message.startswith("experiments.tiny.test_sets: songs/test is a music test set"), message
    assert "['speech']" in message


def test_a_test_set_at_another_sample_rate_is_refused():
    config = tiny()
    config["datasets"]["narrow"] = {**config["datasets"]["demo"], "sample_rate": 8000}
    config["experiments"]["tiny"]["test_sets"] = ["narrow/test"]
    config["enhance"]["channels"] = "per_channel"
    message = error_of(config)
    assert message.startswith("experiments.tiny.test_sets: narrow/test is at 8000 Hz"), message


def test_testing_on_another_dataset_needs_the_channel_handling_declared():
    config = tiny()
    config["datasets"]["other_demo"] = {**config["datasets"]["demo"], "snr_range": [-5, 5]}
    config["experiments"]["tiny"]["test_sets"] = ["demo/test", "other_demo/test"]
    message = error_of(config)
    assert message.startswith(
        "experiments.tiny.enhance.channels: tiny learns from demo but is tested on other_demo/test"
    ), message
    config["experiments"]["tiny"]["enhance"] = {"channels": "downmix"}
    check_config(config)
    del config["experiments"]["tiny"]["enhance"]
    config["enhance"]["channels"] = "per_channel"
    check_config(config)


@pytest.mark.parametrize(
    "edit, key, says",
    [
        (lambda c: c.update(device="gpu"), "device:", "'gpu' is not one of ['auto', 'cpu', 'cuda']"),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(steps="many"),
            "experiments.tiny.train.steps:",
            "'many' is not of type 'integer'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"].update(test_set=["demo/test"]),
            "experiments.tiny:",
            "'test_set' was unexpected",
        ),
        (lambda c: c["threads"].pop("train"), "threads:", "'train' is a required property"),
        (lambda c: c["enhance"].update(channels="left"), "enhance.channels:", "'left' is not one of"),
    ],
)
def test_a_schema_error_is_its_path_and_message(edit, key, says):
    message = error_of(changed(edit))
    assert message.startswith(key) and says in message, message


def test_a_schema_message_quoting_a_whole_section_is_cut_short():
    config = tiny()
    config["experiments"] = list(config["experiments"].values())
    message = error_of(config)
    assert message.startswith("experiments: ") and message.endswith("...") and len(message) < 220, message


def test_sample_rates_are_the_code_s_list():
    """The schema names no rates of its own: every rate the demo supports passes, others fail."""
    for rate in SUPPORTED_SAMPLE_RATES:
        config = tiny()
        config["datasets"]["demo"]["sample_rate"] = rate
        validate_schema(config)
        check_config(config)
    assert "enum" not in json.dumps(
        yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]["datasets"][
            "additionalProperties"
        ]["properties"]["sample_rate"]
    )


def test_the_global_seed_reaches_training_unless_the_experiment_sets_its_own():
    config = tiny()
    assert train_settings(config, "tiny")["train"]["seed"] == 7
    config["experiments"]["tiny"]["train"]["seed"] = 3
    assert train_settings(config, "tiny")["train"]["seed"] == 3
    assert train_settings(config, "other")["train"]["seed"] == 7


def test_only_picks_experiments():
    config = tiny()
    assert trained_experiments(config) == ["other", "tiny"]
    config["only"] = ["noisy", "tiny"]
    check_config(config)
    assert trained_experiments(config) == ["tiny"]
    assert [(name, ts.name) for name, ts in evaluation_targets(config)] == [
        ("noisy", "demo/test"),
        ("tiny", "demo/test"),
    ]
    config["only"] = ["tiny"]  # the unprocessed input stays: the gains are measured against it
    assert [(name, ts.name) for name, ts in evaluation_targets(config)] == [
        ("noisy", "demo/test"),
        ("tiny", "demo/test"),
    ]
    assert input_experiments(config) == {"demo/test": "noisy"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit, line",
    [
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(steps=-1.5),
            "config: experiments.tiny.train.steps: -1.5 is not of type 'integer'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["args"].update(hiden=8),
            "config: experiments.tiny.args: got an unexpected keyword argument 'hiden' for model 'gatewave'",
        ),
    ],
)
def test_snakemake_shows_one_line(tmp_path, edit, line):
    write_config(tmp_path, changed(edit))
    proc = snakemake(tmp_path, "-n", check=False)
    out = (proc.stdout + proc.stderr).splitlines()
    assert proc.returncode != 0
    assert [text for text in out if text.startswith("config:")] == [next(t for t in out if t.startswith(line))]
    assert len(out) < 10, "\n".join(out)


def planned_jobs(proc) -> dict[str, int]:
    """rule -> job count, from a dry run's job stats table."""
    table = (proc.stdout + proc.stderr).split("Job stats:")[1].split("total")[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


@pytest.mark.slow
def test_a_preset_runs_alone_and_only_picks_experiments(tmp_path):
    """--configfile merges into config.yaml (its demo models stay beside the preset's); with
    --replace-workflow-config the preset is the whole run; `only` narrows the default config."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    shutil.copy(REPO / "config" / "tiny.yaml", tmp_path / "tiny.yaml")
    merged = planned_jobs(snakemake(tmp_path, "-n", "--configfile", "tiny.yaml"))
    alone = planned_jobs(snakemake(tmp_path, "-n", "--configfile", "tiny.yaml", "--replace-workflow-config"))
    picked = planned_jobs(snakemake(tmp_path, "-n", "--config", "only=[demucs,noisy]"))
    default = yaml.safe_load((REPO / "config.yaml").read_text())["experiments"]
    assert merged["train_model"] == sum("model" in exp for exp in default.values()) + 2
    assert (alone["train_model"], alone["enhance"]) == (2, 4)
    assert (picked["train_model"], picked["enhance"]) == (1, 2)


MIXING = {"speech": "demo/pool_clean", "noise": "demo/pool_noise", "rirs": "demo/pool_rir", "p_speech_rir": 0.3}


@pytest.mark.parametrize(
    "edit, key, says",
    [
        (lambda m: m.update(snr=3), "experiments.tiny.data.mixing.snr:", "unknown key"),
        (lambda m: m.pop("speech"), "experiments.tiny.data.mixing.speech is missing", "name a pool as dataset/split"),
        (
            lambda m: m.update(noise=["demo/pool_noise", "pool_noise"]),
            "experiments.tiny.data.mixing.noise:",
            "'pool_noise' is not a pool",
        ),
        (
            lambda m: m.update(p_speech_rir=1.5),
            "experiments.tiny.data.mixing.p_speech_rir:",
            "1.5 is not a probability",
        ),
        (lambda m: m.pop("rirs"), "experiments.tiny.data.mixing.p_speech_rir", "no RIR pool is given; add rirs"),
        (lambda m: m.update(snr_range=[10, 0]), "experiments.tiny.data.mixing.snr_range:", "low <= high"),
        (lambda m: m.update(gain_range=3), "experiments.tiny.data.mixing.gain_range:", "is not a range"),
        (lambda m: m.update(valid_size=0), "experiments.tiny.data.mixing.valid_size:", "must be a positive number"),
        (lambda m: m.update(speech="demo/pool_speech"), "experiments.tiny.data.mixing.speech:", "pool_speech"),
    ],
)
def test_a_mixing_mistake_is_named_before_training(edit, key, says):
    """The mixing section is checked with the rest of the config, not when its job starts."""
    config = tiny()
    mixing = dict(MIXING)
    edit(mixing)
    config["experiments"]["tiny"]["data"] = {"mixing": mixing}
    message = error_of(config)
    assert message.startswith(key) and says in message, message


def test_a_good_mixing_section_passes_and_its_pools_are_the_training_splits():
    config = tiny()
    config["experiments"]["tiny"]["data"] = {"mixing": dict(MIXING)}
    check_config(config)
    assert training_splits(config["experiments"]["tiny"]) == [
        ("demo", "pool_clean"),
        ("demo", "pool_noise"),
        ("demo", "pool_rir"),
    ]
