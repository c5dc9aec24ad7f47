"""VoiceBank+DEMAND (Valentini-Botinhao et al. 2016), the 28-speaker set.

Four zips from Edinburgh DataShare (no published checksums; the host can answer with an HTML
page, so each zip is validated as a zip and its first hash recorded). 48 kHz, resampled to
the config's rate (16 kHz in every paper). Speakers p226 and p287 are held out of training
for validation, as SpeechBrain and ESPnet do: 10,802 train / 770 valid / 824 test.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from sepflow.data.download import Remote
from sepflow.data.recipes.base import DatasetOptions, DownloadedCorpus, DownloadOptions
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError

BASE_URL = "https://datashare.ed.ac.uk/bitstream/handle/10283/2791/"
FOLDERS = {  # unpacked folder -> (split group, side)
    "clean_trainset_28spk_wav": ("train", "clean"),
    "noisy_trainset_28spk_wav": ("train", "noisy"),
    "clean_testset_wav": ("test", "clean"),
    "noisy_testset_wav": ("test", "noisy"),
}
REMOTES = [Remote(BASE_URL + f"{name}.zip", kind="zip") for name in FOLDERS]
VALID_SPEAKERS = ["p226", "p287"]


class VctkDemandOptions(DownloadOptions):
    valid_speakers: list[str] = VALID_SPEAKERS


class VctkDemand(DownloadedCorpus):
    task = "speech"
    Options: ClassVar[type[DatasetOptions]] = VctkDemandOptions

    def splits(self) -> dict[str, str]:
        return {"train": "paired", "valid": "paired", "test": "paired"}

    def remotes(self) -> list[Remote]:
        return list(REMOTES)

    def fetch(self, raw_dir: Path, log) -> None:
        for remote in REMOTES:
            self.fetch_and_extract(remote, raw_dir, raw_dir / Path(remote.filename).stem, log)

    def _jobs(self, root: Path, audio_dir: Path) -> list[Job]:
        valid = set(self.options.valid_speakers)
        jobs = []
        for name, (group, side) in FOLDERS.items():
            for src in sorted(_folder(root, name).glob("*.wav")):
                split = group if group == "test" else ("valid" if src.name.split("_")[0] in valid else "train")
                jobs.append(Job(src, audio_dir / split / side / src.name))
        return jobs

    def inputs(self) -> list[str]:
        root = self.local_root()
        return [str(job.src) for job in self._jobs(root, Path("."))] if root else []

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
        root = self.local_root() or raw_dir
        resample_files(self._jobs(root, audio_dir), self.sample_rate, workers, log, "VoiceBank+DEMAND", journal=journal)


def _folder(root: Path, name: str) -> Path:
    """An unpacked folder, either directly under root or inside the folder its zip made."""
    for candidate in (root / name, root / name / name):
        if candidate.is_dir() and any(candidate.glob("*.wav")):
            return candidate
    raise SepflowError(
        f"folder {name}/ with WAV files not found under {root}; download the dataset again or fix local_path."
    )
