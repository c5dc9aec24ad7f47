"""JSON manifests: one file per split, the contract between data preparation and training.

A manifest has a header (dataset, split, task, kind, sample_rate, sources, content_hash)
and `items`, each with an `id`, paths relative to the data folder, its length in samples,
and per file its size in bytes and a content hash, so a changed, missing or added file is
seen. The kinds:
- paired: `noisy` (the mixture) and `clean` (the one source, `speech`);
- stems: `mixture` and `stems` ({source: path}), sources in the header's order;
- pool: `audio` (speech, noise or RIRs for on-the-fly mixing; no sources).
Manifests are written sorted and byte-identical for identical inputs, and validated on read.
Building one reads and hashes every file: a large split's items are spread over the job's
cores in worker processes (a small file costs mostly Python, so threads would share one GIL),
and kept in their sorted order.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sepflow.audio.io import audio_info
from sepflow.errors import SepflowError
from sepflow.files import write_atomic

TASKS = ("speech", "music")
KINDS = ("paired", "stems", "pool")
PATH_KEYS = ("clean", "noisy", "audio", "mixture")
SPEECH_SOURCES = ("speech",)
MUSIC_SOURCES = ("vocals", "drums", "bass", "other")
"""MUSDB18's targets, in the order models output them."""
MIXTURE_KEY = {"paired": "noisy", "stems": "mixture", "pool": "audio"}
"""By kind, the item key of what a model hears."""


def file_hash(path: str | os.PathLike) -> str:
    """A fast content hash (BLAKE2b, 64 bits) of a file's bytes."""
    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Manifest:
    dataset: str
    split: str
    task: str
    sample_rate: int
    items: list[dict] = field(default_factory=list)
    root: Path = Path(".")  # the data folder that item paths are relative to
    kind: str = "paired"
    sources: tuple[str, ...] = SPEECH_SOURCES

    def paths(self, item: dict) -> dict[str, Path]:
        """Absolute paths of an item's audio files, keyed as in the item (stems as stem/NAME)."""
        out = {k: self.root / item[k] for k in PATH_KEYS if k in item}
        for name, rel in item.get("stems", {}).items():
            out[f"stem/{name}"] = self.root / rel
        return out

    def recorded_sizes(self) -> dict[str, int]:
        """Every file's absolute path (as str(self.paths(item)[key])) with the size in bytes the
        manifest recorded."""
        sizes = {}
        for item in self.items:
            for key, record in item["files"].items():
                relative = item["stems"][key.split("/", 1)[1]] if key.startswith("stem/") else item[key]
                sizes[self._absolute(relative)] = int(record["bytes"])
        return sizes

    def item_files(self) -> list[tuple[str, list[str], int]]:
        """Each item's mixture file, its target files (none for a pool) and its length in samples:
        what training reads, as text equal to str() of mixture_path and target_paths (a Path
        per file costs seconds at a training start on 100k files)."""
        mixture = MIXTURE_KEY[self.kind]
        out = []
        for item in self.items:
            if self.kind == "paired":
                targets = [self._absolute(item["clean"])]
            elif self.kind == "stems":
                targets = [self._absolute(item["stems"][name]) for name in self.sources]
            else:
                targets = []
            out.append((self._absolute(item[mixture]), targets, int(item["length"])))
        return out

    def _absolute(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def prepared_folder(self) -> Path:
        """The prepared dataset folder its files live in: {data}/audio/{dataset}."""
        return self.root / "audio" / self.dataset

    def mixture_path(self, item: dict) -> Path:
        """What a model hears: the noisy file, the music mixture or the pool file."""
        return self.root / item[MIXTURE_KEY[self.kind]]

    def target_paths(self, item: dict) -> dict[str, Path]:
        """What a model should output, by source name, in the manifest's source order."""
        if self.kind == "paired":
            return {self.sources[0]: self.root / item["clean"]}
        if self.kind == "stems":
            return {name: self.root / item["stems"][name] for name in self.sources}
        raise SepflowError(
            f"{self.dataset}/{self.split} is a pool of single files with no targets; "
            "use it for on-the-fly mixing, not as a paired or test split."
        )

    @property
    def content_hash(self) -> str:
        """One hash of every item's files: what training learns from, for resume decisions."""
        blob = json.dumps([(it["id"], it["files"]) for it in sorted(self.items, key=lambda it: it["id"])])
        return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()

    def to_json(self) -> str:
        header = {
            "dataset": self.dataset,
            "split": self.split,
            "task": self.task,
            "kind": self.kind,
            "sample_rate": self.sample_rate,
            "sources": list(self.sources),
            "content_hash": self.content_hash,
        }
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

    With check_files, every referenced file must exist with the size recorded and the
    manifest's sample rate; the first problem raises one SepflowError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise SepflowError(f"manifest not found: {path}; run the rule that builds it (snakemake {path}).")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SepflowError(f"manifest {path} is not valid JSON ({exc}); delete it and rerun its rule.") from None
    for key in ("dataset", "split", "task", "kind", "sample_rate", "sources", "items"):
        if key not in raw:
            raise SepflowError(f"manifest {path} lacks the key {key!r}; delete it and rerun its rule.")
    if raw["task"] not in TASKS or raw["kind"] not in KINDS:
        raise SepflowError(
            f"manifest {path}: task {raw['task']!r} / kind {raw['kind']!r} is not one of {TASKS} / {KINDS}."
        )
    if not raw["items"]:
        raise SepflowError(f"manifest {path} has no items: the split {raw['split']!r} is empty.")
    root = Path(root) if root is not None else path.resolve().parent.parent.parent
    manifest = Manifest(
        raw["dataset"],
        raw["split"],
        raw["task"],
        int(raw["sample_rate"]),
        raw["items"],
        root,
        raw["kind"],
        tuple(raw["sources"]),
    )
    if check_files:
        for item in manifest.items:
            for key, file in manifest.paths(item).items():
                _check_file(path, item, key, file, manifest.sample_rate)
    return manifest


def _remake(manifest_path: Path, file: Path) -> str:
    """How to get a missing file back: the prepared folder it belongs to is a Snakemake target
    (data/audio/{dataset}, named as the manifest's path names the data folder); a folder
    deleted whole while its record remains is not remade by a plain rerun, so the message
    names the target."""
    folder = manifest_path.parent.parent.parent / "audio" / manifest_path.parent.name
    if not file.resolve().is_relative_to(folder.resolve()):
        return "restore it, or rebuild the manifest from the files there are."
    gone = "the prepared folder is gone" if not folder.is_dir() else "a file of the prepared folder is gone"
    return f"{gone}: remake it with `snakemake {folder}` (`snakemake all_data` remakes every dataset), then rerun."


def _remake_changed(manifest_path: Path, file: Path) -> str:
    """How to get a file edited in place back (no directory's time moved, so a plain rerun does
    not see it): force its prepared folder."""
    folder = manifest_path.parent.parent.parent / "audio" / manifest_path.parent.name
    if not file.resolve().is_relative_to(folder.resolve()):
        return "restore it, or rebuild the manifest from the files there are."
    return f"remake it and what depends on it with `snakemake --forcerun {folder}` (or `sepflow verify --fix`)."


def _check_file(manifest_path: Path, item: dict, key: str, file: Path, sample_rate: int) -> None:
    where = f"manifest {manifest_path}, item {item['id']!r}"
    if not file.is_file():
        raise SepflowError(f"{where}: {key} file {file} is missing; {_remake(manifest_path, file)}")
    info = audio_info(file)
    if info.sample_rate != sample_rate:
        raise SepflowError(
            f"{where}: {file} is {info.sample_rate} Hz but the manifest says {sample_rate} Hz; "
            "resample the data or rebuild the manifest."
        )
    recorded = item["files"][key]["bytes"]
    if file.stat().st_size != recorded:
        raise SepflowError(
            f"{where}: {file} has {file.stat().st_size} bytes, the manifest recorded {recorded}: it changed since; "
            f"{_remake_changed(manifest_path, file)}"
        )


def _relative(path: Path, data_root: Path) -> str:
    return path.relative_to(data_root).as_posix()


def _file_record(key: str, path: Path) -> tuple[str, dict]:
    return key, {"bytes": path.stat().st_size, "hash": file_hash(path)}


def _audio_facts(path: Path, sample_rate: int, fix: str) -> int:
    info = audio_info(path)
    if info.sample_rate != sample_rate:
        raise SepflowError(f"{path} is {info.sample_rate} Hz, expected {sample_rate} Hz; {fix}")
    return info.frames


PARALLEL_MIN_ITEMS = 1000
"""Below this many items a split is built in-process; at 1000 two forked workers built a
split 1.75x as fast as one process, at 50000 1.94x (benchmarks/manifest_threads.py)."""


def _items(one: Callable[[str | Path], dict], sources: Sequence[str | Path], processes: int) -> list[dict]:
    """`one` of each source, in the sources' order, on `processes` worker processes when the
    split is large; an error is the first source's that fails, as in one process (the chunks
    not yet started are cancelled). The workers are forked: a spawned one would run the
    calling script again, and a Snakemake job's script has no `__main__` guard."""
    if processes <= 1 or len(sources) < PARALLEL_MIN_ITEMS:
        return [one(source) for source in sources]
    chunk = max(1, len(sources) // (processes * 16))
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    try:
        return list(pool.map(one, sources, chunksize=chunk))
    finally:
        pool.shutdown(cancel_futures=True)


def _paired_item(name: str, clean_dir: Path, noisy_dir: Path, data_root: Path, sample_rate: int) -> dict:
    files = {"clean": clean_dir / name, "noisy": noisy_dir / name}
    lengths = {k: _audio_facts(p, sample_rate, "resample the split first.") for k, p in files.items()}
    if lengths["clean"] != lengths["noisy"]:
        raise SepflowError(
            f"{files['noisy']} has {lengths['noisy']} samples but its clean pair has {lengths['clean']}."
        )
    return {
        "id": Path(name).stem,
        **{k: _relative(p, data_root) for k, p in files.items()},
        "length": lengths["clean"],
        "files": dict(_file_record(k, p) for k, p in files.items()),
    }


def _stems_item(track: Path, data_root: Path, sample_rate: int, sources: tuple[str, ...]) -> dict:
    files = {"mixture": track / "mixture.wav", **{f"stem/{s}": track / f"{s}.wav" for s in sources}}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise SepflowError(f"{track} lacks {missing}; each track needs mixture.wav and {list(sources)}.")
    lengths = {k: _audio_facts(p, sample_rate, "resample the track first.") for k, p in files.items()}
    if len(set(lengths.values())) > 1:
        raise SepflowError(f"{track}: mixture and stems differ in length ({lengths}); re-export the track.")
    return {
        "id": track.name,
        "mixture": _relative(files["mixture"], data_root),
        "stems": {s: _relative(files[f"stem/{s}"], data_root) for s in sources},
        "length": lengths["mixture"],
        "files": dict(_file_record(k, p) for k, p in files.items()),
    }


def _pool_item(path: Path, data_root: Path, sample_rate: int) -> dict:
    return {
        "id": path.stem,
        "audio": _relative(path, data_root),
        "length": _audio_facts(path, sample_rate, "resample the pool first."),
        "files": dict([_file_record("audio", path)]),
    }


def paired_manifest(
    split_dir: Path, data_root: Path, dataset: str, split: str, sample_rate: int, threads: int = 1
) -> Manifest:
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

    item = partial(_paired_item, clean_dir=clean_dir, noisy_dir=noisy_dir, data_root=data_root, sample_rate=sample_rate)
    items = _items(item, sorted(clean), threads)
    return Manifest(dataset, split, "speech", sample_rate, items, data_root, "paired", SPEECH_SOURCES)


def stems_manifest(
    split_dir: Path,
    data_root: Path,
    dataset: str,
    split: str,
    sample_rate: int,
    sources: tuple[str, ...] = MUSIC_SOURCES,
    threads: int = 1,
) -> Manifest:
    """A music manifest from the MUSDB18 decoded layout: {split}/{track}/{mixture,SOURCE...}.wav."""
    if not split_dir.is_dir():
        raise SepflowError(f"folder not found: {split_dir}; a stems split holds one folder per track.")

    item = partial(_stems_item, data_root=data_root, sample_rate=sample_rate, sources=tuple(sources))
    items = _items(item, sorted(p for p in split_dir.iterdir() if p.is_dir()), threads)
    return Manifest(dataset, split, "music", sample_rate, items, data_root, "stems", tuple(sources))


def pool_manifest(
    pool_dir: Path,
    data_root: Path,
    dataset: str,
    split: str,
    sample_rate: int,
    task: str = "speech",
    threads: int = 1,
) -> Manifest:
    """A pool manifest (speech, noise or RIRs for on-the-fly mixing) from a folder of WAVs."""
    if not pool_dir.is_dir():
        raise SepflowError(f"folder not found: {pool_dir}")

    item = partial(_pool_item, data_root=data_root, sample_rate=sample_rate)
    items = _items(item, sorted(pool_dir.glob("*.wav")), threads)
    return Manifest(dataset, split, task, sample_rate, items, data_root, "pool", ())


def estimate_paths(folder: str | os.PathLike, item_id: str, sources: tuple[str, ...] | list[str]) -> dict[str, Path]:
    """Where the estimates of an item live in an enhanced folder: {id}.wav for a single
    source, {id}/{source}.wav for several."""
    folder = Path(folder)
    if len(sources) == 1:
        return {sources[0]: folder / f"{item_id}.wav"}
    return {name: folder / item_id / f"{name}.wav" for name in sources}
