"""The interface every corpus recipe implements, with the defaults most of them share.

A recipe is built from its dataset's validated options (its own `Options` spec, so an
unknown or misspelt key under `datasets.NAME` is refused with its path) and answers what the
workflow asks of a corpus: its task and sources, its splits and their manifest kinds, the
user's files it reads (so a change to them remakes the prepared copy), how it downloads and
prepares into data/audio/{dataset}, and where each prepared split lives.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import field_validator

from sepflow.data.download import Remote, check_checksums, pinned
from sepflow.data.extract import download_and_extract
from sepflow.data.manifest import MUSIC_SOURCES, SPEECH_SOURCES
from sepflow.errors import SepflowError
from sepflow.specs import Count, Spec

SUPPORTED_SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


class DatasetOptions(Spec):
    """The keys every dataset has; a recipe's Options add its own."""

    recipe: str
    sample_rate: Count

    @field_validator("sample_rate")
    @classmethod
    def _supported(cls, rate: int) -> int:
        if rate not in SUPPORTED_SAMPLE_RATES:
            raise ValueError(f"{rate!r} Hz is not supported; choose one of {list(SUPPORTED_SAMPLE_RATES)}")
        return rate


class DownloadOptions(DatasetOptions):
    """A public corpus: fetched from its home (or a `mirror`), or read in place from `local_path`."""

    mirror: str | None = None
    local_path: str | None = None
    checksums: dict[str, str] | None = None
    """{file name: md5 or sha256} in place of a downloaded file's pinned checksum (a mirror or a
    newer release of the corpus)."""


class CorpusRecipe:
    """One corpus. Subclasses set `task` and `Options` and implement `splits` and `prepare`."""

    task: ClassVar[str] = "speech"
    Options: ClassVar[type[DatasetOptions]] = DatasetOptions

    def __init__(self, options: DatasetOptions):
        self.options = options

    @property
    def sample_rate(self) -> int:
        return self.options.sample_rate

    def sources(self) -> tuple[str, ...]:
        """The named sources of its references: what a model trained on it estimates."""
        return SPEECH_SOURCES if self.task == "speech" else tuple(getattr(self.options, "sources", MUSIC_SOURCES))

    def splits(self) -> dict[str, str]:
        """split name -> manifest kind (paired, stems, pool)."""
        raise NotImplementedError

    def check(self, where: str) -> None:
        """What the options cannot show alone (a user's folder exists), at a cost that does not
        grow with the corpus; raise SepflowError naming f"{where}.KEY". Called when the config
        is read."""

    def check_contents(self, where: str) -> None:
        """What only listing the user's files shows (every clean file has its noisy pair, every
        track its stems): run by the prepare job before it writes, and when the config is read
        only while the dataset is not prepared yet (so a dry run at rest does not list it)."""

    def inputs(self) -> list[str]:
        """Files outside data/ that preparation reads (a user's folder)."""
        return []

    def download(self, raw_dir: Path) -> None:
        """Fetch the corpus into `raw_dir` (checksummed, resumable); nothing for local corpora."""

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, journal=None) -> None:
        """Write the corpus into `audio_dir` (a staging folder); `journal` (data/staging.py), when
        given, records finished work so that an interrupted preparation resumes where it stopped."""
        raise NotImplementedError

    def split_dir(self, audio_dir: Path, split: str) -> Path:
        """Where a prepared split lives."""
        return Path(audio_dir) / split


class DownloadedCorpus(CorpusRecipe):
    """A public corpus: `fetch` runs unless the user's own copy (`local_path`) is given."""

    Options: ClassVar[type[DatasetOptions]] = DownloadOptions

    def remotes(self) -> list[Remote]:
        """The files it downloads (whose checksums `checksums` may override)."""
        return []

    def fetch(self, raw_dir: Path) -> None:
        """Download into `raw_dir`: checksummed, resumable, kept between runs."""
        raise NotImplementedError

    def fetch_and_extract(self, remote: Remote, raw_dir: Path, target: Path) -> None:
        """One archive, its checksum the config's when it gives one, extracted into `target`
        (not downloaded again while an extraction with a matching record is there)."""
        where = f"datasets.{raw_dir.name}"
        remote = pinned(remote, {"checksums": self.options.checksums}, where)
        download_and_extract(remote, raw_dir, target, self.options.mirror, f"{where}.checksums")

    def download(self, raw_dir: Path) -> None:
        if self.options.local_path is None:
            self.fetch(Path(raw_dir))

    def local_root(self, where: str = "dataset") -> Path | None:
        """The user's own copy, which must exist; it is read in place, never written."""
        if self.options.local_path is None:
            return None
        path = Path(os.path.expanduser(self.options.local_path))
        if not path.is_dir():
            raise SepflowError(
                f"{where}.local_path: folder {path} not found; fix the path or remove the key to download."
            )
        return path

    def check(self, where: str) -> None:
        self.local_root(where)
        check_checksums({"checksums": self.options.checksums}, where, self.remotes())
