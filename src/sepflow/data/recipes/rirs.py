"""Room impulse responses from OpenSLR: SLR26 (simulated) or SLR28 (RIRS_NOISES).

- `source: slr26`: sim_rir_16k.zip, 60,000 simulated RIRs in small, medium and large rooms
  (200 rooms x 100 RIRs per size). OpenSLR pins no checksum for it: the zip is validated and
  its first hash recorded.
- `source: slr28`: rirs_noises.zip (md5 published by OpenSLR): the same simulated RIRs, 325
  real RIRs (RWCP, REVERB 2014, AIR) and 843 point-source noises.
`parts` picks pools among small, medium, large (both sources) and real, point_noises (SLR28).
Pools are mono (the first channel of multichannel real RIRs), named `{part}_{file}` since
simulated file names repeat across room sizes. RIR files are taken from the `rir_list`s, so
the isotropic noises beside the real RIRs stay out of the RIR pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import model_validator

from sepflow.data.download import Remote
from sepflow.data.recipes.base import DatasetOptions, DownloadedCorpus, DownloadOptions
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError

PARTS = ("small", "medium", "large", "real", "point_noises")
REMOTES = {
    "slr26": Remote("https://www.openslr.org/resources/26/sim_rir_16k.zip", kind="zip"),
    "slr28": Remote(
        "https://www.openslr.org/resources/28/rirs_noises.zip",
        md5="e6f48e257286e05de56413b4779d8ffb",
        size=1_311_166_223,
        kind="zip",
    ),
}
TOP = {"slr26": "simulated_rirs_16k", "slr28": "RIRS_NOISES"}
ROOMS = ("small", "medium", "large")
DEFAULT_PARTS = {"slr26": list(ROOMS), "slr28": ["real", "point_noises"]}


class RirOptions(DownloadOptions):
    source: Literal["slr26", "slr28"]
    parts: list[Literal["small", "medium", "large", "real", "point_noises"]] | None = None

    @model_validator(mode="after")
    def _parts_of_the_source(self):
        if self.source == "slr26" and self.parts and set(self.parts) - set(ROOMS):
            odd = sorted(set(self.parts) - set(ROOMS))
            raise ValueError(f"parts: {odd} are not in slr26, which holds {list(ROOMS)}")
        return self


class Rirs(DownloadedCorpus):
    task = "speech"
    Options: ClassVar[type[DatasetOptions]] = RirOptions

    @property
    def parts(self) -> list[str]:
        return self.options.parts or DEFAULT_PARTS[self.options.source]

    def splits(self) -> dict[str, str]:
        return {part: "pool" for part in self.parts}

    def remotes(self) -> list[Remote]:
        return [REMOTES[self.options.source]]

    def fetch(self, raw_dir: Path, log) -> None:
        self.fetch_and_extract(REMOTES[self.options.source], raw_dir, raw_dir / self.options.source, log)

    def _jobs(self, root: Path, audio_dir: Path) -> list[Job]:
        jobs = []
        for part in self.parts:
            files = _part_files(self.options.source, root, part)
            if not files:
                raise SepflowError(f"no WAV files for part {part!r} under {root}; the copy is incomplete.")
            for f in files:
                if not f.is_file():
                    raise SepflowError(f"{f}, named in a rir_list, is missing; the copy is incomplete.")
                jobs.append(Job(f, audio_dir / part / f"{part}_{f.name}", channels=1))
        return jobs

    def inputs(self) -> list[str]:
        local = self.local_root()
        return [str(job.src) for job in self._jobs(_root(self.options.source, local), Path("."))] if local else []

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
        source = self.options.source
        root = _root(source, self.local_root() or raw_dir / source)
        resample_files(self._jobs(root, audio_dir), self.sample_rate, workers, log, f"RIRs ({source})", journal=journal)


def _root(source: str, base: Path) -> Path:
    top = TOP[source]
    for candidate in (base / top, base):
        if candidate.is_dir() and candidate.name == top:
            return candidate
    raise SepflowError(f"no {top}/ folder found in {base}; fix local_path or delete it and rerun the download.")


def _listed(rir_list: Path, root: Path) -> list[Path]:
    """Files named in a Kaldi rir_list (`--rir-id ID --room-id ROOM path`), paths from the corpus parent."""
    if not rir_list.is_file():
        raise SepflowError(f"{rir_list} not found; the RIR copy is incomplete.")
    return [root.parent / line.split()[-1] for line in rir_list.read_text().splitlines() if line.strip()]


def _part_files(source: str, root: Path, part: str) -> list[Path]:
    if part in ROOMS:
        folder = root / f"{part}room" if source == "slr26" else root / "simulated_rirs" / f"{part}room"
        return sorted(folder.rglob("*.wav"))
    if part == "real":
        return _listed(root / "real_rirs_isotropic_noises" / "rir_list", root)
    return sorted((root / "pointsource_noises").glob("*.wav"))
