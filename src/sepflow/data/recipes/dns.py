"""DNS Challenge, Interspeech 2020 (Reddy et al. 2020): pools of clean speech and noise for
on-the-fly mixing, and the synthetic test sets without and with reverberation.

The data lives only in git LFS on branch `interspeech2020/master` (the blob archive holds
pointer files), and a full pull is ~320 GB. So the repository is cloned without LFS content,
and `git lfs pull --include` fetches only what the config asks: the synthetic test sets by
default, and clean / noise pools by a count or a fraction of their files (a fixed seeded
choice, the same on every machine). Git LFS checks every object against its sha256. A user's
own copy (`local_path`, a folder holding `datasets/`) is read in place instead.

Test pairs are matched by the `fileid_N` at the end of both file names, as denoiser and
asteroid do, and prepared as `fileid_N.wav` in clean/ and noisy/.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import field_validator

from sepflow.data.recipes.base import DatasetOptions, DownloadedCorpus, DownloadOptions
from sepflow.data.resampling import Job, resample_files
from sepflow.errors import SepflowError
from sepflow.files import atomic_folder

REPO_URL = "https://github.com/microsoft/DNS-Challenge"
BRANCH = "interspeech2020/master"
POOL_DIRS = {"clean": "datasets/clean", "noise": "datasets/noise"}
TEST_SETS = ("no_reverb", "with_reverb")
TEST_DIR = "datasets/test_set/synthetic/{}"
_FILEID = re.compile(r"fileid_(\d+)\.wav$")
_LFS_POINTER = b"version https://git-lfs"
_BATCH = 200  # paths per `git lfs pull --include`


def choose(names: list[str], amount: int | float) -> list[str]:
    """A fixed subset of `names`: a count, or a fraction of them, picked by a seeded permutation."""
    names = sorted(names)
    k = min(len(names), amount if isinstance(amount, int) else max(1, round(amount * len(names))))
    order = np.random.default_rng(2020).permutation(len(names))
    return [names[i] for i in sorted(order[:k])]


def _git(args: list[str], cwd: Path | None) -> str:
    env = {**os.environ, "GIT_LFS_SKIP_SMUDGE": "1", "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise SepflowError("git is not installed; install it (apt-get install git) or set local_path.") from None
    if done.returncode != 0:
        raise SepflowError(
            f"git {' '.join(args[:3])} failed in {cwd or '.'}: {done.stderr.strip()[-400:]}. "
            "Check the network / `mirror`, or set local_path to an existing copy."
        )
    return done.stdout


def _require_lfs() -> None:
    try:
        _git(["lfs", "version"], None)
    except SepflowError:
        raise SepflowError(
            "git-lfs is not installed; the DNS data is stored in git LFS. Install it "
            "(apt-get install git-lfs, or conda install -c conda-forge git-lfs) and rerun."
        ) from None


def _escape(path: str) -> str:
    return re.sub(r"([\[\]*?\\])", r"\\\1", path)


def _is_pointer(path: Path) -> bool:
    if path.stat().st_size > 1024:
        return False
    with open(path, "rb") as f:
        return f.read(len(_LFS_POINTER)) == _LFS_POINTER


def _real_audio(path: Path) -> Path:
    if _is_pointer(path):
        raise SepflowError(
            f"{path} is a git-LFS pointer, not audio: fetch it with "
            f"`git lfs pull --include {path.name}` in that copy, or rerun the download."
        )
    return path


def _by_fileid(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise SepflowError(f"folder not found: {folder}; the DNS copy lacks this test set.")
    out = {}
    for p in folder.glob("*.wav"):
        m = _FILEID.search(p.name)
        if not m:
            raise SepflowError(f"{p}: no fileid_N in its name; cannot pair it.")
        out[m.group(1)] = p
    return out


class DnsOptions(DownloadOptions):
    test_sets: list[Literal["no_reverb", "with_reverb"]] = list(TEST_SETS)
    pools: dict[Literal["clean", "noise"], int | float] = {}

    @field_validator("pools")
    @classmethod
    def _amounts(cls, pools: dict) -> dict:
        for name, amount in pools.items():
            whole = isinstance(amount, int) and not isinstance(amount, bool) and amount > 0
            if not (whole or (isinstance(amount, float) and 0 < amount <= 1)):
                raise ValueError(f"{name} must be a file count (integer > 0) or a fraction in (0, 1], got {amount!r}")
        return pools


class Dns(DownloadedCorpus):
    task = "speech"
    Options: ClassVar[type[DatasetOptions]] = DnsOptions

    def splits(self) -> dict[str, str]:
        kinds = {f"test_{name}": "paired" for name in self.options.test_sets}
        return {**kinds, **{name: "pool" for name in self.options.pools}}

    def fetch(self, raw_dir: Path, log) -> None:
        _require_lfs()
        repo = raw_dir / "DNS-Challenge"
        url = self.options.mirror or REPO_URL
        if not (repo / ".git").is_dir():
            log(f"cloning {url} (branch {BRANCH}, no LFS content) -> {repo}")
            with atomic_folder(repo) as tmp:
                _git(["clone", "--quiet", "--depth", "1", "--single-branch", "--branch", BRANCH, url, str(tmp)], None)
        wanted = [p for p in self._wanted(repo) if _is_pointer(repo / p)]
        log(f"git lfs pull: {len(wanted)} files to fetch")
        for k in range(0, len(wanted), _BATCH):
            _git(["lfs", "pull", "--include", ",".join(_escape(p) for p in wanted[k : k + _BATCH])], repo)
            log(f"git lfs pull: {min(k + _BATCH, len(wanted))}/{len(wanted)}")
        missing = [p for p in wanted if _is_pointer(repo / p)]
        if missing:
            raise SepflowError(
                f"git lfs pull left {len(missing)} files as pointers, e.g. {repo / missing[0]}; "
                "the LFS server may be over quota: rerun later or set local_path."
            )

    def _wanted(self, repo: Path) -> list[str]:
        """Repository paths the config asks for (test sets whole, pools by their amounts)."""
        files = _git(["ls-files", "-z", "datasets/clean", "datasets/noise", "datasets/test_set/synthetic"], repo)
        files = [f for f in files.split("\0") if f.endswith(".wav")]
        wanted = []
        for name in self.options.test_sets:
            prefix = TEST_DIR.format(name) + "/"
            wanted += [f for f in files if f.startswith(prefix)]
        for name, amount in self.options.pools.items():
            prefix = POOL_DIRS[name] + "/"
            wanted += choose([f for f in files if f.startswith(prefix) and "/" not in f[len(prefix) :]], amount)
        return wanted

    def _jobs(self, root: Path, audio_dir: Path) -> list[Job]:
        jobs = []
        for name in self.options.test_sets:
            base = root / TEST_DIR.format(name)
            clean, noisy = _by_fileid(base / "clean"), _by_fileid(base / "noisy")
            if set(clean) != set(noisy):
                odd = sorted(set(clean) ^ set(noisy), key=int)[:3]
                raise SepflowError(f"{base}: clean/ and noisy/ differ in fileids, e.g. {odd}; the copy is incomplete.")
            for fid in clean:
                for side, files in (("clean", clean), ("noisy", noisy)):
                    jobs.append(Job(files[fid], audio_dir / f"test_{name}" / side / f"fileid_{fid}.wav"))
        for name, amount in self.options.pools.items():
            folder = root / POOL_DIRS[name]
            chosen = choose([p.name for p in folder.glob("*.wav")], amount)
            if not chosen:
                raise SepflowError(f"folder {folder} holds no WAV files; the DNS copy lacks the {name} pool.")
            jobs += [Job(folder / n, audio_dir / name / n, channels=1) for n in chosen]
        return jobs

    def inputs(self) -> list[str]:
        local = self.local_root()
        return [str(job.src) for job in self._jobs(local, Path("."))] if local else []

    def prepare(self, audio_dir: Path, *, raw_dir: Path, seed: int, workers: int, log, journal=None) -> None:
        root = self.local_root() or raw_dir / "DNS-Challenge"
        jobs = self._jobs(root, audio_dir)
        for job in jobs:
            _real_audio(job.src)
        resample_files(jobs, self.sample_rate, workers, log, "DNS 2020", journal=journal)
