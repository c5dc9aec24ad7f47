"""MUSAN (Snyder et al. 2015, OpenSLR 17): music, speech and noise pools, 16 kHz.

One 11 GB tar.gz with an md5 that OpenSLR publishes. The config's `parts` (noise, music,
speech; default noise) become flat pools of WAVs, named by their (unique) MUSAN file names.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from sepflow.data.download import Remote
from sepflow.data.recipes.base import DatasetOptions, DownloadedCorpus, DownloadOptions
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError

REMOTE = Remote(
    "https://www.openslr.org/resources/17/musan.tar.gz",
    md5="0c472d4fc0c5141eca47ad1ffeb2a7df",
    size=11_086_114_085,
    kind="tar",
)


class MusanOptions(DownloadOptions):
    parts: list[Literal["noise", "music", "speech"]] = ["noise"]


class Musan(DownloadedCorpus):
    task = "speech"
    Options: ClassVar[type[DatasetOptions]] = MusanOptions

    def splits(self) -> dict[str, str]:
        return {part: "pool" for part in self.options.parts}

    def remotes(self) -> list[Remote]:
        return [REMOTE]

    def fetch(self, raw_dir: Path, log) -> None:
        self.fetch_and_extract(REMOTE, raw_dir, raw_dir / "musan", log)

    def _jobs(self, root: Path, audio_dir: Path) -> list[Job]:
        jobs = []
        for part in self.options.parts:
            files = sorted((root / part).rglob("*.wav"))
            if not files:
                raise SepflowError(f"{root / part} holds no WAV files; the MUSAN copy is incomplete.")
            names = [f.name for f in files]
            if len(set(names)) != len(names):
                raise SepflowError(f"{root / part}: file names repeat across subfolders; this is not the MUSAN layout.")
            jobs += [Job(f, audio_dir / part / f.name, channels=1) for f in files]
        return jobs

    def inputs(self) -> list[str]:
        local = self.local_root()
        return [str(job.src) for job in self._jobs(_root(local), Path("."))] if local else []

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
        root = _root(self.local_root() or raw_dir / "musan")
        resample_files(self._jobs(root, audio_dir), self.sample_rate, workers, log, "MUSAN", journal=journal)


def _root(base: Path) -> Path:
    """The `musan/` folder holding music/, speech/, noise/."""
    for candidate in (base, base / "musan"):
        if (candidate / "noise").is_dir() or (candidate / "music").is_dir():
            return candidate
    raise SepflowError(
        f"no MUSAN folder (with noise/, music/, speech/) found at {base}; "
        "fix local_path or delete the folder and rerun the download."
    )
