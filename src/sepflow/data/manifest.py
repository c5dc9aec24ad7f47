"""JSON manifests: one file per split, the contract between data preparation and training.

A manifest has a header (dataset, split, task, sample_rate) and `items`, each with an `id`,
paths relative to the data folder and lengths in samples:
- paired speech: `clean`, `noisy`, `length`;
- pools of speech, noise or RIRs: `audio`, `length`;
- music: `mixture`, `stems` ({name: path}), `length`.
Manifests are written sorted and byte-identical for identical inputs, and validated on read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sepflow.audio.io import audio_info
from sepflow.errors import SepflowError
from sepflow.files import write_atomic

TASKS = ("speech", "music")
PATH_KEYS = ("clean", "noisy", "audio", "mixture")


@dataclass
class Manifest:
    dataset: str
    split: str
    task: str
    sample_rate: int
    items: list[dict] = field(default_factory=list)
    root: Path = Path(".")  # the data folder that item paths are relative to

    def paths(self, item: dict) -> dict[str, Path]:
        """Absolute paths of an item's audio files, keyed as in the item (stems as stem/NAME)."""
        out = {k: self.root / item[k] for k in PATH_KEYS if k in item}
        for name, rel in item.get("stems", {}).items():
            out[f"stem/{name}"] = self.root / rel
        return out

    def to_json(self) -> str:
        header = {"dataset": self.dataset, "split": self.split, "task": self.task, "sample_rate": self.sample_rate}
        items = sorted(self.items, key=lambda it: it["id"])
        return json.dumps({**header, "items": items}, indent=1, sort_keys=True) + "\n"


def write_manifest(manifest: Manifest, path: str | os.PathLike) -> Path:
    """Write atomically (temporary file + rename)."""
    if not manifest.items:
        raise SepflowError(f"refusing to write an empty manifest {path}: split {manifest.split!r} has no items.")
    return write_atomic(path, manifest.to_json())


def read_manifest(path: str | os.PathLike, root: str | os.PathLike | None = None, check_files: bool = True) -> Manifest:
    """Read and validate a manifest; item paths resolve against `root` (default: the data folder
    two levels above the manifest, as in data/manifests/{dataset}/{split}.json).

    With check_files, every referenced file must exist with the manifest's sample rate; the
    first problem raises one SepflowError naming the manifest, the item and the file.
    """
    path = Path(path)
    if not path.is_file():
        raise SepflowError(f"manifest not found: {path}; run the rule that builds it (snakemake {path}).")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SepflowError(f"manifest {path} is not valid JSON ({exc}); delete it and rerun its rule.") from None
    for key in ("dataset", "split", "task", "sample_rate", "items"):
        if key not in raw:
            raise SepflowError(f"manifest {path} lacks the key {key!r}; rebuild it.")
    if raw["task"] not in TASKS:
        raise SepflowError(f"manifest {path}: task {raw['task']!r} is not one of {TASKS}.")
    if not raw["items"]:
        raise SepflowError(f"manifest {path} has no items: the split {raw['split']!r} is empty.")
    root = Path(root) if root is not None else path.resolve().parent.parent.parent
    manifest = Manifest(raw["dataset"], raw["split"], raw["task"], int(raw["sample_rate"]), raw["items"], root)
    if check_files:
        for item in manifest.items:
            for key, file in manifest.paths(item).items():
                if not file.is_file():
                    raise SepflowError(
                        f"manifest {path}, item {item['id']!r}: {key} file {file} is missing; "
                        "rerun the data rules or rebuild the manifest."
                    )
                info = audio_info(file)
                if info.sample_rate != manifest.sample_rate:
                    raise SepflowError(
                        f"manifest {path}, item {item['id']!r}: {file} is {info.sample_rate} Hz but the "
                        f"manifest says {manifest.sample_rate} Hz; resample the data or rebuild the manifest."
                    )
    return manifest


def paired_manifest(split_dir: Path, data_root: Path, dataset: str, split: str, sample_rate: int) -> Manifest:
    """A paired speech manifest from a VoiceBank+DEMAND-style folder: clean/ and noisy/ with the
    same file names. A file present on one side only is an error naming it."""
    clean_dir, noisy_dir = split_dir / "clean", split_dir / "noisy"
    for d in (clean_dir, noisy_dir):
        if not d.is_dir():
            raise SepflowError(f"folder not found: {d}; a paired split needs clean/ and noisy/ folders.")
    clean = {p.name for p in clean_dir.glob("*.wav")}
    noisy = {p.name for p in noisy_dir.glob("*.wav")}
    if clean != noisy:
        odd = sorted(clean ^ noisy)[:3]
        raise SepflowError(f"{split_dir}: clean/ and noisy/ differ, e.g. {odd}; every file needs its pair.")
    items = []
    for name in sorted(clean):
        c_info, n_info = audio_info(clean_dir / name), audio_info(noisy_dir / name)
        for p, info in ((clean_dir / name, c_info), (noisy_dir / name, n_info)):
            if info.sample_rate != sample_rate:
                raise SepflowError(f"{p} is {info.sample_rate} Hz, expected {sample_rate} Hz; resample the split first.")
        if c_info.frames != n_info.frames:
            raise SepflowError(f"{noisy_dir / name} has {n_info.frames} samples but its clean pair has {c_info.frames}.")
        items.append({
            "id": Path(name).stem,
            "clean": (clean_dir / name).relative_to(data_root).as_posix(),
            "noisy": (noisy_dir / name).relative_to(data_root).as_posix(),
            "length": c_info.frames,
        })
    return Manifest(dataset, split, "speech", sample_rate, items, data_root)


def pool_manifest(pool_dir: Path, data_root: Path, dataset: str, split: str, sample_rate: int) -> Manifest:
    """A pool manifest (speech, noise or RIRs for on-the-fly mixing) from a folder of WAVs."""
    if not pool_dir.is_dir():
        raise SepflowError(f"folder not found: {pool_dir}")
    items = []
    for p in sorted(pool_dir.glob("*.wav")):
        info = audio_info(p)
        if info.sample_rate != sample_rate:
            raise SepflowError(f"{p} is {info.sample_rate} Hz, expected {sample_rate} Hz; resample the pool first.")
        items.append({"id": p.stem, "audio": p.relative_to(data_root).as_posix(), "length": info.frames})
    return Manifest(dataset, split, "speech", sample_rate, items, data_root)
