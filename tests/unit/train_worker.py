"""A training process for the interrupt tests (test_train.py): trains gatewave on a toy data
folder. With a hold N, the N-th validation stops after its first item, prints "validating"
and waits for a line on stdin, so the test can signal the process while it validates.

usage: python train_worker.py DATA_DIR OUT_DIR RECIPE_JSON [HOLD]
Exit codes: 0 done, 130 interrupted (the state saved).
"""

import json
import sys
from pathlib import Path

import torch
from torch.utils.data import Dataset

from sepflow.data.datasets import TrainingData, training_data
from sepflow.data.manifest import read_manifest
from sepflow.train.loop import train
from sepflow.train.recipe import Recipe


class HeldValidation(Dataset):
    """The validation items; the `hold`-th read of item 1 (the `hold`-th validation, since
    examples read item 0 only) waits for the test."""

    def __init__(self, items: Dataset, hold: int):
        self.items, self.hold, self.reads = items, hold, 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        if index == 1:
            self.reads += 1
            if self.reads == self.hold:
                print("validating", flush=True)
                sys.stdin.readline()
        return self.items[index]


def main(data_dir: str, out_dir: str, recipe_json: str, hold: str = "0") -> int:
    torch.set_num_threads(1)
    recipe = Recipe.from_config(json.loads(recipe_json))
    data_dir = Path(data_dir)
    data = training_data(
        read_manifest(data_dir / "manifests/toy/train.json"),
        read_manifest(data_dir / "manifests/toy/valid.json"),
        recipe.segment,
        recipe.seed,
    )
    fields = {**data.__dict__, "valid": HeldValidation(data.valid, int(hold))}
    try:
        train("gatewave", {"hidden": 8, "depth": 2}, recipe, TrainingData(**fields), out_dir, device="cpu", name="toy")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
