"""MUSDB18 (Rafii et al. 2017): the 7 s previews, the full set, MUSDB18-HQ, or a local copy.

The full set and the previews are `.stem.mp4` files (5 stereo AAC streams: mixture, drums,
bass, other, vocals), decoded once to WAV with stempeg, which runs the ffmpeg and ffprobe
binaries; HQ is WAV already. Prepared layout: {split}/{track}/{mixture,vocals,drums,bass,other}.wav
at the config's rate (44.1 kHz native). The standard 14 training tracks (musdb's and
torchaudio's list) form the validation split: 86 / 14 / 50 tracks (80 / 14 / 50 for the previews).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from sepflow.audio import resample, write_audio
from sepflow.data.download import Remote
from sepflow.data.recipes.base import DatasetOptions, DownloadedCorpus, DownloadOptions
from sepflow.data.resampling import Job, resample_files
from sepflow.data.staging import file_state
from sepflow.errors import SepflowError

STEMS = ("mixture", "vocals", "drums", "bass", "other")
STREAM = {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4}  # order inside .stem.mp4
NATIVE_RATE = 44100
REMOTES = {
    "preview": Remote(
        "https://zenodo.org/records/3270814/files/MUSDB18-7-STEMS.zip?download=1",
        md5="dc2bdfac5b46ce742bd60009866758a5",
        size=147_209_385,
    ),
    "full": Remote(
        "https://zenodo.org/records/1117372/files/musdb18.zip?download=1",
        md5="af06762477334799bfc5abf237648207",
        size=4_684_228_845,
    ),
    "hq": Remote(
        "https://zenodo.org/records/3338373/files/musdb18hq.zip?download=1",
        sha256="baac80d0483c61d74b2e5f3be75fa557eec52898339e6aa45c1fa48833c5d21d",
    ),
}
VALID_TRACKS = frozenset(
    {
        "Actions - One Minute Smile",
        "Clara Berry And Wooldog - Waltz For My Victims",
        "Johnny Lokke - Promises & Lies",
        "Patrick Talbot - A Reason To Leave",
        "Triviul - Angelsaint",
        "Alexander Ross - Goodbye Bolero",
        "Fergessen - Nos Palpitants",
        "Leaf - Summerghost",
        "Skelpolu - Human Mistakes",
        "Young Griffo - Pennies",
        "ANiMAL - Rockshow",
        "James May - On The Line",
        "Meaxic - Take A Step",
        "Traffic Experiment - Sirens",
    }
)
FFMPEG_HINT = (
    "decoding .stem.mp4 needs the ffmpeg and ffprobe binaries (stempeg runs them): install them with "
    "`apt-get install ffmpeg` or `conda install -c conda-forge ffmpeg`, or use variant: hq."
)


def _root(base: Path) -> Path:
    """The folder holding train/ and test/."""
    for candidate in [base, *sorted(p for p in base.iterdir() if p.is_dir())]:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise SepflowError(
        f"no MUSDB18 folder with train/ and test/ found at {base}; fix local_path or "
        "delete the folder and rerun the download."
    )


def _split(subset: str, track: str) -> str:
    return "test" if subset == "test" else ("valid" if track in VALID_TRACKS else "train")


def _decode(path: Path, out: Path, sample_rate: int) -> None:
    """One .stem.mp4 into a folder of five WAVs (inside prepare's staging folder)."""
    import stempeg

    try:
        stems, rate = stempeg.read_stems(str(path), dtype=np.float32, always_3d=True)
    except Exception as exc:
        raise SepflowError(
            f"cannot decode {path}: {exc}; the file is damaged: delete the download and rerun."
        ) from None
    if stems.shape[0] < 5:
        raise SepflowError(f"{path} holds {stems.shape[0]} audio streams, not MUSDB18's 5.")
    out.mkdir(parents=True, exist_ok=True)
    for name in STEMS:
        audio = resample(np.ascontiguousarray(stems[STREAM[name]].T), int(rate), sample_rate)
        write_audio(out / f"{name}.wav", audio, sample_rate)


def _track_name(path: Path) -> str:
    return path.name[: -len(".stem.mp4")]


def _stem_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*.stem.mp4") if p.parent.name in ("train", "test"))


def _wav_jobs(root: Path, audio_dir: Path) -> list[Job]:
    jobs = []
    for subset in ("train", "test"):
        for track in sorted(p for p in (root / subset).iterdir() if p.is_dir()):
            for name in STEMS:
                src = track / f"{name}.wav"
                if not src.is_file():
                    raise SepflowError(f"{src} is missing; the MUSDB18-HQ copy is incomplete.")
                jobs.append(Job(src, audio_dir / _split(subset, track.name) / track.name / f"{name}.wav"))
    if not jobs:
        raise SepflowError(f"{root} holds neither .stem.mp4 files nor HQ track folders.")
    return jobs


class MusdbOptions(DownloadOptions):
    variant: Literal["preview", "full", "hq"] = "preview"


class Musdb(DownloadedCorpus):
    task = "music"
    Options: ClassVar[type[DatasetOptions]] = MusdbOptions

    def splits(self) -> dict[str, str]:
        return {"train": "stems", "valid": "stems", "test": "stems"}

    def remotes(self) -> list[Remote]:
        return [REMOTES[self.options.variant]]

    def fetch(self, raw_dir: Path, log) -> None:
        variant = self.options.variant
        self.fetch_and_extract(REMOTES[variant], raw_dir, raw_dir / variant, log)

    def inputs(self) -> list[str]:
        local = self.local_root()
        if not local:
            return []
        root = _root(local)
        return [str(p) for p in _stem_files(root)] or [str(job.src) for job in _wav_jobs(root, Path("."))]

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
        root = _root(self.local_root() or raw_dir / self.options.variant)
        sr = self.sample_rate
        stem_files = _stem_files(root)
        if not stem_files:
            resample_files(_wav_jobs(root, audio_dir), sr, workers, log, "MUSDB18-HQ", journal=journal)
            return
        if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
            raise SepflowError(f"ffmpeg not found: {FFMPEG_HINT}")
        tasks = [(p, audio_dir / _split(p.parent.name, _track_name(p)) / _track_name(p)) for p in stem_files]
        if journal is not None:  # tracks decoded before an interruption, from unchanged files, are kept
            tasks = [t for t in tasks if journal.get(journal.key(t[1])) != file_state(t[0])]

        def decode(task: tuple[Path, Path]) -> None:
            _decode(*task, sr)
            if journal is not None:
                journal.done(journal.key(task[1]), file_state(task[0]))

        with ThreadPoolExecutor(max(1, workers)) as pool:
            for k, _ in enumerate(pool.map(decode, tasks), 1):
                log(f"MUSDB18: {k}/{len(tasks)} tracks decoded")
