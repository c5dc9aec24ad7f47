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

from sepflow.data.corpus_prep import local_root, optional, require
from sepflow.data.download import Remote, pinned
from sepflow.data.extract import download_and_extract
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError

PARTS = ("small", "medium", "large", "real", "point_noises")
TASK = "speech"
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


def splits(cfg: dict) -> dict[str, str]:
    return {part: "pool" for part in cfg.get("parts", DEFAULT_PARTS[cfg["source"]])}


def check(cfg: dict, where: str) -> None:
    require(cfg, where, "sample_rate", int)
    source = require(cfg, where, "source", str, choices=list(REMOTES))
    optional(cfg, where, "mirror", str)
    allowed = list(ROOMS) if source == "slr26" else list(PARTS)
    optional(cfg, where, "parts", list, choices=allowed)
    local_root(cfg, where)


def download(cfg: dict, raw_dir: Path, log) -> None:
    where = f"datasets.{raw_dir.name}"
    remote = pinned(REMOTES[cfg["source"]], cfg, where)
    download_and_extract(remote, raw_dir, raw_dir / cfg["source"], log, cfg.get("mirror"), f"{where}.checksums")


def _root(cfg: dict, base: Path) -> Path:
    top = TOP[cfg["source"]]
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


def _jobs(cfg: dict, root: Path, audio_dir: Path) -> list[Job]:
    jobs = []
    for part in cfg.get("parts", DEFAULT_PARTS[cfg["source"]]):
        files = _part_files(cfg["source"], root, part)
        if not files:
            raise SepflowError(f"no WAV files for part {part!r} under {root}; the copy is incomplete.")
        for f in files:
            if not f.is_file():
                raise SepflowError(f"{f}, named in a rir_list, is missing; the copy is incomplete.")
            jobs.append(Job(f, audio_dir / part / f"{part}_{f.name}", channels=1))
    return jobs


def inputs(cfg: dict) -> list[str]:
    local = local_root(cfg, "dataset")
    return [str(job.src) for job in _jobs(cfg, _root(cfg, local), Path("."))] if local else []


def prepare(cfg: dict, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
    root = _root(cfg, local_root(cfg, "dataset") or raw_dir / cfg["source"])
    resample_files(
        _jobs(cfg, root, audio_dir), cfg["sample_rate"], workers, log, f"RIRs ({cfg['source']})", journal=journal
    )


def split_dir(cfg: dict, audio_dir: Path, split: str) -> Path:
    return audio_dir / split
