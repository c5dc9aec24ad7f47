"""The model card written beside an export: what the model is, how it was trained and
scored, what it costs in delay, and how to run it. A pure function of what it is given;
whatever nobody recorded is written as "not recorded", never guessed."""

from __future__ import annotations

import json
import math

from sepflow.export.parity import describe

NOT_RECORDED = "not recorded"
TRAINING_KEYS = ("datasets", "splits", "content_hashes", "recipe", "steps")


def _ms(samples: int, rate: int) -> float:
    return round(1000 * samples / rate, 3)


def _finite(value):
    """NaN scores as null: JSON has no NaN, and a missing mean must not read as a number."""
    return None if isinstance(value, float) and math.isnan(value) else value


def run_snippet(export: dict) -> str:
    """The onnxruntime calls that run this export, for the card."""
    rate, channels = export["sample_rate"], export["channels"]
    lines = ["import json", "", "import numpy as np", "import onnxruntime as ort", ""]
    offline = export["offline"]
    if offline["graph"]:
        lines += [
            f'offline = ort.InferenceSession("{offline["graph"]}", providers=["CPUExecutionProvider"])',
            f"# audio: float32 (batch, {channels}, time) at {rate} Hz, time >= {offline['min_length']}",
            f'(estimate,) = offline.run(["estimate"], {{"audio": audio}})  # (batch, {len(export["sources"])}, {channels}, time)',
        ]
    stream = export["stream"]
    if stream:
        graphs = stream["graphs"]

        def valid(n: int) -> str:
            return f'"valid": np.array({n}, np.int64), ' if stream["valid"] else ""

        lines += [
            "",
            "options = ort.SessionOptions()",
            "options.intra_op_num_threads = 1  # one thread: a second buys nothing per hop",
            'states = json.load(open("export.json"))["stream"]["states"]  # names, shapes, dtypes',
            f'hop = ort.InferenceSession("{graphs["hop"]}", options, providers=["CPUExecutionProvider"])',
        ]
        if graphs["first"]:
            lines += [
                f'first = ort.InferenceSession("{graphs["first"]}", options, providers=["CPUExecutionProvider"])',
                f"# the first {stream['first_hop']} samples, float32 ({channels}, {stream['first_hop']}):",
                f'out, *state = first.run(None, {{"audio": block, {valid(stream["first_hop"])[:-2]}}})',
            ]
        else:
            lines.append("state = [np.zeros(s['shape'], s['dtype']) for s in states]")
        lines += [
            f"# each next {stream['hop']} samples, float32 ({channels}, {stream['hop']}):",
            f'out, *state = hop.run(None, {{"audio": block, {valid(stream["hop"])}**{{s["input"]: x for s, x in zip(states, state)}}}})',
        ]
        if stream["delay"]:
            lines.append(f"# the first {stream['delay']} output samples belong before the signal: drop them")
        lines.append("# the end of a signal: export.json's stream.protocol, as deploy/stream.py runs it")
    return "\n".join(lines)


def model_card(
    checkpoint: dict,
    export: dict,
    *,
    training: dict | None = None,
    scores: dict | None = None,
    licence: str | None = None,
    software: dict | None = None,
) -> dict:
    """The card of an export made from `checkpoint` (its dict) and described by `export`
    (export.json). training: datasets, splits, content_hashes, recipe, steps (any subset);
    scores: per test set, each metric's mean; software: sepflow's version and commit and the
    metric packages; licence: the text the user chose."""
    rate = checkpoint["sample_rate"]
    stream = export["stream"]
    if stream:
        timing = {
            "hop": {"samples": stream["hop"], "ms": _ms(stream["hop"], rate)},
            "algorithmic_latency": {"samples": stream["latency"], "ms": _ms(stream["latency"], rate)},
        }
    else:
        timing = {"hop": "offline only", "algorithmic_latency": f"the whole signal (offline): {export['stream_why']}"}
    training = training or {}
    software = software or {}
    return {
        "model": {
            "family": checkpoint["model"],
            "arguments": checkpoint["model_args"],
            "parameters": export["parameters"],
            "task": checkpoint["task"],
            "sources": list(checkpoint["sources"]),
            "channels": checkpoint["channels"],
        },
        "sample_rate": rate,
        **timing,
        "training": {**dict.fromkeys(TRAINING_KEYS, NOT_RECORDED), **training},
        "scores": {
            testset: {metric: _finite(value) for metric, value in means.items()}
            for testset, means in (scores or {}).items()
        }
        or NOT_RECORDED,
        "metrics": software.get("metrics", NOT_RECORDED),
        "sepflow": software.get("sepflow", NOT_RECORDED),
        "licence": licence or NOT_RECORDED,
        "export": {
            "exporter": export["exporter"],
            "opset": export["opset"],
            "onnxruntime": export["onnxruntime"],
            "graphs": export["files"],
            "parity": export["parity"],
        },
        "run": run_snippet(export),
    }


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def card_markdown(card: dict) -> str:
    """The card as Markdown, for people; model_card.json holds the same for programs."""
    model, lines = card["model"], [f"# Model card: {card['model']['family']}", ""]
    lines += ["| | |", "|---|---|"]
    rows = {
        "family": model["family"],
        "arguments": model["arguments"],
        "parameters": f"{model['parameters']:,}",
        "task, sources, channels": f"{model['task']}, {', '.join(model['sources'])}, {model['channels']}",
        "sample rate": f"{card['sample_rate']} Hz",
    }
    for key in ("hop", "algorithmic_latency"):
        value = card[key]
        rows[key.replace("_", " ")] = (
            f"{value['samples']} samples ({value['ms']:g} ms)" if isinstance(value, dict) else value
        )
    rows.update({"licence": card["licence"], "sepflow": card["sepflow"]})
    lines += [f"| {key} | {_value(value)} |" for key, value in rows.items()]
    lines += ["", "## Training", ""] + [
        f"- {key.replace('_', ' ')}: {_value(v)}" for key, v in card["training"].items()
    ]
    lines += ["", "## Test-set scores (means)", ""]
    if isinstance(card["scores"], str):
        lines.append(card["scores"])
    else:
        for testset, means in card["scores"].items():
            lines.append(f"- {testset}: " + ", ".join(f"{m} {_value(v)}" for m, v in means.items()))
    metrics = card["metrics"]
    lines += ["", "## Metrics", ""]
    lines += [metrics] if isinstance(metrics, str) else [f"- {k}: {v}" for k, v in metrics.items()]
    export = card["export"]
    lines += ["", "## Export", "", f"- exporter: {export['exporter']}, opset {export['opset']}"]
    lines += [f"- onnxruntime: {export['onnxruntime']}"]
    lines += [f"- {name}: {size:,} bytes" for name, size in export["graphs"].items()]
    lines += [f"- parity: {describe(what, figures)}" for what, figures in export["parity"].items()]
    lines += ["", "## Running it", "", "```python", card["run"], "```", ""]
    return "\n".join(lines)
