"""VoiceBank+DEMAND (Valentini-Botinhao et al. 2016), the 28-speaker set.

Four zips from Edinburgh DataShare (no published checksums; the host can answer with an HTML
page, so each zip is validated as a zip and its first hash recorded). 48 kHz, resampled to
the config's rate (16 kHz in every paper). Speakers p226 and p287 are held out of training
for validation, as SpeechBrain and ESPnet do: 10,802 train / 770 valid / 824 test.
"""

from __future__ import annotations

from pathlib import Path

from sepflow.data.corpus_prep import local_root, optional, require
from sepflow.data.download import Remote, pinned
from sepflow.data.extract import download_and_extract
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError

TASK = "speech"
BASE_URL = "https://datashare.ed.ac.uk/bitstream/handle/10283/2791/"
FOLDERS = {  # unpacked folder -> (split group, side)
    "clean_trainset_28spk_wav": ("train", "clean"),
    "noisy_trainset_28spk_wav": ("train", "noisy"),
    "clean_testset_wav": ("test", "clean"),
    "noisy_testset_wav": ("test", "noisy"),
}
REMOTES = [Remote(BASE_URL + f"{name}.zip", kind="zip") for name in FOLDERS]
VALID_SPEAKERS = ["p226", "p287"]


def splits(cfg: dict) -> dict[str, str]:
    return {"train": "paired", "valid": "paired", "test": "paired"}


def check(cfg: dict, where: str) -> None:
    require(cfg, where, "sample_rate", int)
    optional(cfg, where, "mirror", str)
    speakers = optional(cfg, where, "valid_speakers", list, VALID_SPEAKERS)
    if not all(isinstance(s, str) for s in speakers):
        raise SepflowError(f"{where}.valid_speakers must be a list of speaker ids such as p226")
    local_root(cfg, where)


def download(cfg: dict, raw_dir: Path, log) -> None:
    where = f"datasets.{raw_dir.name}"
    for remote in REMOTES:
        target = raw_dir / Path(remote.filename).stem
        download_and_extract(pinned(remote, cfg, where), raw_dir, target, log, cfg.get("mirror"), f"{where}.checksums")


def _folder(root: Path, name: str) -> Path:
    """An unpacked folder, either directly under root or inside the folder its zip made."""
    for candidate in (root / name, root / name / name):
        if candidate.is_dir() and any(candidate.glob("*.wav")):
            return candidate
    raise SepflowError(
        f"folder {name}/ with WAV files not found under {root}; download the dataset again or fix local_path."
    )


def _jobs(cfg: dict, root: Path, audio_dir: Path) -> list[Job]:
    valid = set(cfg.get("valid_speakers", VALID_SPEAKERS))
    jobs = []
    for name, (group, side) in FOLDERS.items():
        for src in sorted(_folder(root, name).glob("*.wav")):
            split = group if group == "test" else ("valid" if src.name.split("_")[0] in valid else "train")
            jobs.append(Job(src, audio_dir / split / side / src.name))
    return jobs


def inputs(cfg: dict) -> list[str]:
    root = local_root(cfg, "dataset")
    return [str(job.src) for job in _jobs(cfg, root, Path("."))] if root else []


def prepare(cfg: dict, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
    root = local_root(cfg, "dataset") or raw_dir
    resample_files(_jobs(cfg, root, audio_dir), cfg["sample_rate"], workers, log, "VoiceBank+DEMAND", journal=journal)


def split_dir(cfg: dict, audio_dir: Path, split: str) -> Path:
    return audio_dir / split
