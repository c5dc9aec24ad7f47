"""The run configuration: experiments, datasets and test sets as config.yaml describes them.

The JSON schema (workflow/schemas/config.schema.yaml) checks shapes and types
(`validate_schema`); this module checks what a schema cannot (names that must refer to each
other, registered models and losses, constructor arguments, test sets an experiment can
score) and answers the questions the workflow asks of the config. Every check raises one
SepflowError naming the key and the fix, before the first job runs. Numeric bounds that code
also enforces (sample rates, the demo's ranges) live in the code and are imported here, not
repeated in the schema.
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from sepflow.data.datasets.mixing import check_mixing, mixing_pools
from sepflow.data.demo.settings import SUPPORTED_SAMPLE_RATES
from sepflow.data.manifest import MUSIC_SOURCES, SPEECH_SOURCES
from sepflow.data.recipes import RECIPES, dataset_splits, get_recipe
from sepflow.errors import SepflowError
from sepflow.infer.baselines import BASELINES, UNPROCESSED
from sepflow.losses import build_loss
from sepflow.models import MODELS, model_class
from sepflow.train.recipe import Recipe
from sepflow.train.steps import STEPS

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
LONGEST_MESSAGE = 200  # a schema message quotes the offending value; a whole section would scroll the key away


@dataclass(frozen=True)
class TestSet:
    dataset: str
    split: str

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.split}"


def canonical_json(obj) -> str:
    """Sorted, compact JSON: rule params that do not change when YAML keys are reordered."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def parse_test_set(text: str, where: str) -> TestSet:
    dataset, sep, split = text.partition("/")
    if not sep or not dataset or not split:
        raise SepflowError(f"{where}: test set {text!r} must read DATASET/SPLIT, e.g. demo/test")
    return TestSet(dataset, split)


def validate_schema(config: dict, schema_path: str | Path = SCHEMA) -> None:
    """Check `config` against the JSON schema as snakemake.utils.validate does (defaults in the
    schema filled in), but raise the most relevant error alone, as `path: message`."""
    import jsonschema
    from jsonschema import Draft202012Validator, validators

    schema = yaml.safe_load(Path(schema_path).read_text())
    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        for name, subschema in properties.items():
            if "default" in subschema and isinstance(instance, dict):
                instance.setdefault(name, subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    validator = validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return
    path = ".".join(str(part) for part in error.absolute_path) or "config"
    message = error.message if len(error.message) <= LONGEST_MESSAGE else error.message[: LONGEST_MESSAGE - 3] + "..."
    raise SepflowError(f"{path}: {message}")


def check_config(config: dict) -> None:
    """Cross-references the schema cannot express; the first problem raises, naming the key."""
    datasets = config["datasets"]
    for name, ds in datasets.items():
        if ds["recipe"] not in RECIPES:
            raise SepflowError(
                f"datasets.{name}.recipe: unknown recipe {ds['recipe']!r}; choose one of {sorted(RECIPES)}"
            )
        if ds["sample_rate"] not in SUPPORTED_SAMPLE_RATES:
            raise SepflowError(
                f"datasets.{name}.sample_rate: {ds['sample_rate']!r} Hz is not supported; "
                f"choose one of {list(SUPPORTED_SAMPLE_RATES)}"
            )
        get_recipe(ds["recipe"]).check(ds, f"datasets.{name}")
    _check_enhance(config.get("enhance", {}), "enhance")
    for name, exp in config["experiments"].items():
        _check_experiment(config, name, exp)
    for name in config.get("only") or []:
        if name not in config["experiments"]:
            raise SepflowError(f"only: no experiment {name!r}; choose from {list(config['experiments'])}")


def _check_experiment(config: dict, name: str, exp: dict) -> None:
    where = f"experiments.{name}"
    if sum(key in exp for key in ("model", "baseline", "pretrained")) != 1:
        raise SepflowError(
            f"{where}: give exactly one of 'model' (a network to train), 'pretrained' "
            "(released weights by url and sha256) or 'baseline'."
        )
    if "pretrained" in exp:
        released = exp["pretrained"]
        if released["model"] not in MODELS:
            raise SepflowError(
                f"{where}.pretrained.model: unknown model {released['model']!r}; choose one of {sorted(MODELS)}"
            )
        _bind(
            model_class(released["model"]),
            f"{where}.pretrained.args",
            f"model {released['model']!r}",
            released.get("args") or {},
        )
    _check_enhance({**config.get("enhance", {}), **exp.get("enhance", {})}, f"{where}.enhance")
    args = exp.get("args") or {}
    if "baseline" in exp:
        if exp["baseline"] not in BASELINES:
            raise SepflowError(
                f"{where}.baseline: unknown baseline {exp['baseline']!r}; choose one of {sorted(BASELINES)}"
            )
        _bind(
            BASELINES[exp["baseline"]],
            f"{where}.args",
            f"baseline {exp['baseline']!r}",
            args,
            leading=("sample_rate", "sources"),
        )
    task = None
    if "model" in exp:
        if exp["model"] not in MODELS:
            raise SepflowError(f"{where}.model: unknown model {exp['model']!r}; choose one of {sorted(MODELS)}")
        for key in ("data", "train"):
            if key not in exp:
                raise SepflowError(f"{where}: a trained model needs a '{key}' section.")
        _bind(model_class(exp["model"]), f"{where}.args", f"model {exp['model']!r}", args)
        recipe = Recipe.from_config(exp["train"], where=f"{where}.train")
        step = dict(recipe.step)
        step_name = step.pop("name", "supervised")
        if step_name not in STEPS:
            raise SepflowError(f"{where}.train.step.name: unknown step {step_name!r}; choose one of {sorted(STEPS)}")
        _bind(
            _registered(STEPS[step_name]),
            f"{where}.train.step",
            f"step {step_name!r}",
            step,
            leading=("model", "loss_fn", "recipe", "accelerator", "sample_rate"),
        )
        data = exp["data"]
        if "mixing" in data:
            check_mixing(data["mixing"], f"{where}.data.mixing")
            for role, pool in mixing_pools(data["mixing"]):
                ds, _, split = pool.partition("/")
                _check_pool(config, ds, split, f"{where}.data.mixing.{role}")
        else:
            _check_split(config, data["dataset"], data["train"], f"{where}.data.train")
            _check_split(config, data["dataset"], data["valid"], f"{where}.data.valid")
        rate = config["datasets"][learned_from(exp)]["sample_rate"]
        _build_loss(recipe.loss, rate, recipe.segment, f"{where}.train.loss")
        task = _task(config, learned_from(exp))
    for text in exp["test_sets"]:
        ts = parse_test_set(text, f"{where}.test_sets")
        _check_split(config, ts.dataset, ts.split, f"{where}.test_sets")
        if task is not None:
            _check_scorable(config, learned_from(exp), ts, f"{where}.test_sets")
            _check_channels_declared(config, name, exp, ts)


def _check_enhance(options: dict, where: str) -> None:
    """Long files are enhanced in chunks that overlap: the overlap must leave a hop."""
    chunk, overlap = options.get("chunk_seconds"), options.get("overlap_seconds")
    if chunk is not None and overlap is not None and overlap >= chunk:
        raise SepflowError(
            f"{where}.overlap_seconds: {overlap} s must be shorter than chunk_seconds ({chunk} s); "
            "lower the overlap or raise the chunk."
        )


def _registered(entry: str):
    """The class behind a registry's "module:Class" string."""
    module, name = entry.split(":")
    return getattr(importlib.import_module(module), name)


def _bind(constructor, where: str, what: str, args: dict, leading: tuple[str, ...] = ()) -> None:
    """Arguments given in the config must fit the constructor they are passed to."""
    try:
        inspect.signature(constructor).bind(*leading, **args)
    except TypeError as exc:
        accepted = [
            p.name
            for p in list(inspect.signature(constructor).parameters.values())[len(leading) :]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        raise SepflowError(f"{where}: {exc} for {what}; it takes {accepted}") from None


def _build_loss(loss: dict, sample_rate: int, segment_seconds: float, where: str) -> None:
    """Losses are small and some pass arguments on (l1_mrstft to the STFT loss, sum to its
    terms), so each is built and run once on a silent batch of the training segment: a typo,
    a bad value or a segment too short for the loss's analysis names the loss's key now,
    not at the first training step."""
    silence = torch.zeros(1, 1, round(segment_seconds * sample_rate))
    try:
        build_loss(sample_rate=sample_rate, **loss)(silence, silence)
    except SepflowError as exc:
        raise SepflowError(f"{where}: {exc}") from None


def learned_from(exp: dict) -> str:
    """The dataset a trained experiment learns from (for mixing: its speech pool's dataset)."""
    data = exp["data"]
    return data["dataset"] if "mixing" not in data else mixing_pools(data["mixing"])[0][1].partition("/")[0]


def _task(config: dict, dataset: str) -> str:
    return get_recipe(config["datasets"][dataset]["recipe"]).TASK


def dataset_sources(cfg: dict) -> tuple[str, ...]:
    """The named sources a dataset's references hold (what a model trained on it estimates)."""
    if get_recipe(cfg["recipe"]).TASK == "music":
        return tuple(cfg.get("sources", MUSIC_SOURCES))
    return SPEECH_SOURCES


def _check_scorable(config: dict, train_dataset: str, ts: TestSet, where: str) -> None:
    """A trained model can be scored only on a test set of its own task, sources and rate."""
    trained, tested = config["datasets"][train_dataset], config["datasets"][ts.dataset]
    if _task(config, train_dataset) != _task(config, ts.dataset) or dataset_sources(trained) != dataset_sources(tested):
        raise SepflowError(
            f"{where}: {ts.name} is a {_task(config, ts.dataset)} test set with sources "
            f"{list(dataset_sources(tested))}, but the model learns {list(dataset_sources(trained))} "
            f"from {train_dataset}; test it on a {_task(config, train_dataset)} test set."
        )
    if trained["sample_rate"] != tested["sample_rate"]:
        raise SepflowError(
            f"{where}: {ts.name} is at {tested['sample_rate']} Hz but the model learns at "
            f"{trained['sample_rate']} Hz from {train_dataset}; give both datasets one sample_rate."
        )


def _check_channels_declared(config: dict, name: str, exp: dict, ts: TestSet) -> None:
    """A model tested on another dataset than it learned from may meet another channel layout
    (a mono speech model, a user's stereo recordings); how a mono model then hears several
    channels must be the user's choice, not a silent default. Within one dataset the layout
    is the training data's. The check needs no audio: at config time the data may not exist."""
    if ts.dataset == learned_from(exp):
        return
    if "channels" in config.get("enhance", {}) or "channels" in exp.get("enhance", {}):
        return
    raise SepflowError(
        f"experiments.{name}.enhance.channels: {name} learns from {learned_from(exp)} but is "
        f"tested on {ts.name}, whose audio may have other channels; declare how a mono model hears "
        "multi-channel audio, per_channel or downmix (here or under the global enhance:)."
    )


def _check_split(config: dict, dataset: str, split: str, where: str) -> None:
    """A split to train, validate or test on: it must exist and hold targets (not a pool)."""
    if dataset not in config["datasets"]:
        raise SepflowError(f"{where}: dataset {dataset!r} is not defined under datasets: {sorted(config['datasets'])}")
    splits = dataset_splits(config["datasets"][dataset])
    if split not in splits:
        raise SepflowError(f"{where}: dataset {dataset!r} has no split {split!r}; it has {list(splits)}")
    if splits[split] == "pool":
        usable = [name for name, kind in splits.items() if kind != "pool"]
        raise SepflowError(
            f"{where}: {dataset}/{split} is a pool of single files for on-the-fly mixing, with no "
            f"references to train or score against; use one of {usable}"
        )


def _is_unprocessed(exp: dict) -> bool:
    return exp.get("baseline") in UNPROCESSED


def selected_experiments(config: dict) -> list[str]:
    """The experiments this run covers: all, or those `only` names (`--config 'only=[a,b]'`)
    plus the unprocessed input of their test sets, so every table keeps its input row."""
    experiments = config["experiments"]
    only = config.get("only") or []
    if not only:
        return list(experiments)
    used = {t for name in only for t in experiments[name]["test_sets"]}
    return [
        name
        for name, exp in experiments.items()
        if name in only or (_is_unprocessed(exp) and used & set(exp["test_sets"]))
    ]


def input_experiments(config: dict) -> dict[str, str]:
    """{test set: the first selected experiment that scores its unprocessed input}."""
    inputs: dict[str, str] = {}
    for name in selected_experiments(config):
        exp = config["experiments"][name]
        if _is_unprocessed(exp):
            for testset in exp["test_sets"]:
                inputs.setdefault(testset, name)
    return inputs


def train_settings(config: dict, name: str) -> dict:
    """What an experiment's training depends on; the global seed unless it sets its own."""
    exp = config["experiments"][name]
    settings = {key: exp.get(key) for key in ("model", "args", "data", "train")}
    settings["train"] = {"seed": config["seed"], **exp["train"]}
    return settings


def _check_pool(config: dict, dataset: str, split: str, where: str) -> None:
    """A pool to mix from: it must exist and be a pool of single files."""
    if dataset not in config["datasets"]:
        raise SepflowError(f"{where}: dataset {dataset!r} is not defined under datasets: {sorted(config['datasets'])}")
    splits = dataset_splits(config["datasets"][dataset])
    if splits.get(split) != "pool":
        pools = [name for name, kind in splits.items() if kind == "pool"]
        raise SepflowError(f"{where}: {dataset}/{split} is not a pool of {dataset}; its pools are {pools}")


def training_splits(exp: dict) -> list[tuple[str, str]]:
    """The (dataset, split) manifests an experiment trains and validates on."""
    data = exp["data"]
    if "mixing" in data:
        return [tuple(pool.partition("/")[::2]) for _, pool in mixing_pools(data["mixing"])]
    return [(data["dataset"], data["train"]), (data["dataset"], data["valid"])]


def trained_experiments(config: dict) -> list[str]:
    return sorted(name for name in selected_experiments(config) if "model" in config["experiments"][name])


def pretrained_experiments(config: dict) -> list[str]:
    return sorted(name for name in selected_experiments(config) if "pretrained" in config["experiments"][name])


def evaluation_targets(config: dict) -> list[tuple[str, TestSet]]:
    """Every (experiment, test set) pair the report covers, in config order."""
    return [
        (name, parse_test_set(t, name))
        for name in selected_experiments(config)
        for t in config["experiments"][name]["test_sets"]
    ]
