"""Everything that produces estimates, behind one seam (the interface is `base.System`).

An experiment names its kind by one key: `model` (trained here), `pretrained` (released
weights), `baseline` (no assets), `external` (another toolkit's enhancer) or `exported` (a
trained experiment's ONNX export, run by onnxruntime); `tune` beside
`model` makes it a search whose best trial is the model (a kind whose keys take in every kind key
the section names is the one chosen). Adding a kind is one module and one line below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sepflow.errors import SepflowError
from sepflow.registry import Registry
from sepflow.systems.base import PlanContext, System

SYSTEMS = Registry(
    "system kind",
    {
        "trained": "sepflow.systems.trained:TrainedSystem",
        "tuned": "sepflow.systems.tuned:TunedSystem",
        "released": "sepflow.systems.released:ReleasedSystem",
        "baseline": "sepflow.systems.baseline:BaselineSystem",
        "external": "sepflow.systems.external:ExternalSystem",
        "exported": "sepflow.systems.exported:ExportedSystem",
        "checkpoint": "sepflow.systems.checkpoint:CheckpointSystem",
    },
)


def _selectable() -> dict[str, type[System]]:
    """config key -> kind, for the kinds a config can name."""
    kinds = [SYSTEMS.load(kind) for kind in SYSTEMS]
    return {cls.config_key: cls for cls in kinds if cls.config_key}


def system_from_config(section: Mapping[str, Any], where: str, context: PlanContext) -> System:
    """The system an experiment section names (exactly one kind key), checked with the plan."""
    kinds = _selectable()
    named = [key for key in kinds if key in section]
    covering = [kinds[key] for key in named if set(named) <= set(kinds[key].keys)]
    if len(covering) != 1:
        listed = ", ".join(f"'{key}'" for key in kinds if key != "tune")
        raise SepflowError(
            f"{where}: give exactly one of {listed} (the system that produces the estimates), "
            "and 'tune' only beside 'model'."
        )
    cls = covering[0]
    for key in section:
        if key not in cls.keys:
            raise SepflowError(
                f"{where}.{key}: not a key of a {cls.config_key!r} experiment; it takes {list(cls.keys)}"
            )
    return cls.from_config(section, where, context)


def system_from_json(text: str) -> System:
    """A system a job received as JSON."""
    return SYSTEMS.load(json.loads(text)["kind"]).from_json(text)
