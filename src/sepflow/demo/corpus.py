"""The embedded demo corpus: paired sets (VoiceBank+DEMAND layout) and DNS-style pools.

Layout under out_dir:
    {split}/clean/{id}.wav, {split}/noisy/{id}.wav, {split}/log.csv   for each split in sizes
    dns/clean/*.wav, dns/noise/*.wav, dns/impulse_responses/*.wav     pools for on-the-fly mixing
    summary.json                                                      counts and seconds

Determinism: every file is a pure function of (settings, what it is, its index): each task
seeds its own generator from numpy.SeedSequence([seed, task key...]), and eSpeak runs in a
fresh fork per utterance (see speech.py). So the same settings give byte-identical files
whatever `workers` is and in whatever order the tasks run.

Reverberant pairs: the noisy file is reverberant speech plus noise, the clean file is the
speech through the direct path and the early reflections only (the first EARLY_REFLECTIONS_S of
the response, as DNS Challenge targets keep them), so models learn to denoise and to remove
the late tail, not to undo the room entirely; the logged SNR is of the reverberant speech to
the noise. Speakers never cross splits or pools (speakers.py); noise
types are shared, but every noise is a fresh instance.

The corpus is built in a hidden sibling folder and renamed into place at the end, so an
interrupted run leaves no half-written corpus behind; every finished task is journalled
(`data/staging.py`), so the next run with the same settings keeps its files and makes only
the rest (rooms are simulated again only for the splits that still need them).
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import io
import json
import os
import signal as posix_signal
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from sepflow.audio import mix_at_snr, write_audio
from sepflow.data.staging import Journal, resumable_folder
from sepflow.demo.noise import make_noise
from sepflow.demo.rooms import RoomResponse, random_room
from sepflow.demo.settings import NOISE_TYPES, DemoSettings, validate_settings
from sepflow.demo.speakers import speaker_panels
from sepflow.demo.speech import Speaker
from sepflow.demo.utterances import make_utterance
from sepflow.errors import SepflowError
from sepflow.files import write_atomic

PR_SET_PDEATHSIG = 1
PEAK_LIMIT = 0.99
DNS_NOISE_SECONDS = 6.0
LOG_COLUMNS = ("id", "speaker", "voice", "noise", "snr_db", "reverberant", "rt60", "seconds", "text")


def task_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator that depends only on the seed and the task's keys (names hash stably)."""
    words = [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def limit_peaks(*signals: np.ndarray) -> list[np.ndarray]:
    """Scale all signals by one common factor so none peaks above PEAK_LIMIT (keeps the SNR)."""
    peak = max(float(np.max(np.abs(s), initial=0.0)) for s in signals)
    scale = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
    return [(s * scale).astype(np.float32) for s in signals]


EARLY_REFLECTIONS_S = 0.05


def reverberate(speech: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Speech convolved with a direct-path-aligned response, cut to the speech length."""
    return signal.fftconvolve(speech, rir)[: speech.size].astype(np.float32)


def early_part(rir: np.ndarray, sample_rate: int) -> np.ndarray:
    """The direct path and early reflections of a direct-path-aligned response, with a 5 ms
    half-Hann fade so the cut adds no click."""
    n, fade = round(EARLY_REFLECTIONS_S * sample_rate), round(0.005 * sample_rate)
    early = rir[:n].copy()
    early[-fade:] *= np.hanning(2 * fade)[fade:]
    return early


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs; sent once per worker process."""

    settings: DemoSettings
    staging: Path
    panels: dict[str, list[Speaker]]
    speaker_ids: dict[Speaker, str]
    rooms: dict[str, list[RoomResponse]]


_job: _Job | None = None


def _install_job(job: _Job) -> None:
    global _job
    _job = job


def _worker_init(job: _Job) -> None:
    """A worker process: its job, and its end when the parent dies (a SIGKILLed run would
    otherwise leave its idle workers waiting forever)."""
    _install_job(job)
    with contextlib.suppress(OSError, AttributeError):  # Linux only: elsewhere such workers stay until killed
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, posix_signal.SIGKILL)


def _room_task(group: str, index: int) -> RoomResponse:
    s = _job.settings
    return random_room(task_rng(s.seed, "room", group, index), s.sample_rate, s.rt60_range)


def _pair_task(split: str, index: int) -> dict:
    """Synthesize, write and describe one clean/noisy pair.

    The pair's plan (speaker, noise type, SNR, room) comes from its own generator before any
    audio is made, so it does not change with the sample rate or the noise implementation.
    """
    s, panel = _job.settings, _job.panels[split]
    plan = task_rng(s.seed, "pair", split, index)
    speaker = panel[int(plan.integers(len(panel)))]
    kind = s.noise_types[int(plan.integers(len(s.noise_types)))]
    snr = round(float(plan.uniform(*s.snr_range)), 2)
    room = None
    if plan.random() < s.reverb_fraction:
        rooms = _job.rooms[split]
        room = rooms[int(plan.integers(len(rooms)))]
    clean, text = make_utterance(
        task_rng(s.seed, "pair", split, index, "speech"), speaker, s.sample_rate, s.utterance_seconds
    )
    noise_rng = task_rng(s.seed, "pair", split, index, "noise")
    noise = make_noise(kind, noise_rng, clean.size, s.sample_rate, talkers=[p for p in panel if p != speaker])
    speech = clean
    if room is not None:
        speech, clean = reverberate(clean, room.rir), reverberate(clean, early_part(room.rir, s.sample_rate))
    noisy, _ = mix_at_snr(speech, noise, snr)
    clean, noisy = limit_peaks(clean, noisy)
    item_id = f"{_job.speaker_ids[speaker]}_{index:04d}"
    for kind_dir, audio in (("clean", clean), ("noisy", noisy)):
        write_audio(_job.staging / split / kind_dir / f"{item_id}.wav", audio, s.sample_rate)
    return {
        "id": item_id,
        "speaker": _job.speaker_ids[speaker],
        "voice": speaker.name,
        "noise": kind,
        "snr_db": f"{snr:.2f}",
        "reverberant": "no" if room is None else "yes",
        "rt60": "" if room is None else f"{room.rt60:.3f}",
        "seconds": f"{clean.size / s.sample_rate:.3f}",
        "text": text,
    }


def _dns_clean_task(index: int) -> float:
    s, panel = _job.settings, _job.panels["dns"]
    rng = task_rng(s.seed, "dns-clean", index)
    speaker = panel[int(rng.integers(len(panel)))]
    audio, _ = make_utterance(rng, speaker, s.sample_rate, s.utterance_seconds)
    write_audio(
        _job.staging / "dns" / "clean" / f"{_job.speaker_ids[speaker]}_fileid_{index}.wav", audio, s.sample_rate
    )
    return audio.size / s.sample_rate


def _dns_noise_task(index: int) -> float:
    s = _job.settings
    kind = s.noise_types[index % len(s.noise_types)]  # cycle so every type is in the pool
    n = int(DNS_NOISE_SECONDS * s.sample_rate)
    noise = make_noise(kind, task_rng(s.seed, "dns-noise", index), n, s.sample_rate, talkers=_job.panels["dns"])
    write_audio(_job.staging / "dns" / "noise" / f"{kind}_fileid_{index}.wav", limit_peaks(noise)[0], s.sample_rate)
    return n / s.sample_rate


def _call(task: Callable, args: tuple):
    return task(*args)


def _run(job: _Job, calls: Sequence[tuple[Callable, tuple]], workers: int, chunksize: int) -> Iterator:
    """Results of task(*args) for each (task, args), in order, as they come; here or in
    `workers` processes (an error or Ctrl-C cancels the tasks not yet started)."""
    if workers == 1 or len(calls) <= 1:
        _install_job(job)
        yield from (task(*args) for task, args in calls)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(job,))
    try:
        yield from pool.map(_call, *zip(*calls), chunksize=chunksize)
    finally:
        pool.shutdown(cancel_futures=True)


def _write_log(path: Path, rows: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def _pair_key(split: str, index: int) -> str:
    return f"pair/{split}/{index}"


def _rooms(job: _Job, groups: list[str], workers: int) -> dict[str, list[RoomResponse]]:
    """The simulated rooms of `groups` (splits, and "dns" for the pool's responses)."""
    s = job.settings
    args = [(g, k) for g in groups if g != "dns" for k in range(s.rooms_per_split)]
    args += [("dns", k) for k in range(s.pool_sizes["impulse_responses"]) if "dns" in groups]
    rooms: dict[str, list[RoomResponse]] = {}
    for response, (group, _) in zip(_run(job, [(_room_task, a) for a in args], workers, chunksize=1), args):
        rooms.setdefault(group, []).append(response)  # uneven costs: one room per worker call
    return rooms


def _build(settings: DemoSettings, staging: Path, workers: int, journal: Journal) -> dict:
    splits = [name for name, size in settings.sizes.items() if size > 0]
    panels = speaker_panels(list(settings.sizes) + ["dns"], settings.seed)
    speaker_ids = {spk: f"spk{i:03d}" for i, spk in enumerate(spk for panel in panels.values() for spk in panel)}
    job = _Job(settings, staging, panels, speaker_ids, rooms={})

    keyed = [
        (_pair_key(split, i), (_pair_task, (split, i)))
        for split in settings.sizes
        for i in range(settings.sizes[split])
    ]
    keyed += [(f"dns-clean/{k}", (_dns_clean_task, (k,))) for k in range(settings.pool_sizes["clean"])]
    keyed += [(f"dns-noise/{k}", (_dns_noise_task, (k,))) for k in range(settings.pool_sizes["noise"])]
    todo = [(key, call) for key, call in keyed if key not in journal]
    need_rooms = {call[1][0] for key, call in todo if call[0] is _pair_task} & set(splits)
    groups = [name for name in splits if name in need_rooms and settings.reverb_fraction > 0]
    groups += ["dns"] if "dns-impulse-responses" not in journal else []
    job = _Job(settings, staging, panels, speaker_ids, _rooms(job, groups, workers))

    for split in settings.sizes:
        (staging / split / "clean").mkdir(parents=True, exist_ok=True)
        (staging / split / "noisy").mkdir(parents=True, exist_ok=True)
    for pool in ("clean", "noise", "impulse_responses"):
        (staging / "dns" / pool).mkdir(parents=True, exist_ok=True)
    for result, (key, _) in zip(_run(job, [call for _, call in todo], workers, chunksize=4), todo):
        journal.done(key, result)  # after the task's files were written whole
    if "dns-impulse-responses" not in journal:
        for k, response in enumerate(job.rooms.get("dns", [])):
            write_audio(
                staging / "dns" / "impulse_responses" / f"rir_fileid_{k}.wav",
                response.rir,
                settings.sample_rate,
                subtype="PCM_24",
            )
        journal.done("dns-impulse-responses", [r.rt60 for r in job.rooms.get("dns", [])])

    summary: dict = {"sample_rate": settings.sample_rate, "seed": settings.seed, "splits": {}}
    for split in settings.sizes:
        rows = [journal.get(_pair_key(split, i)) for i in range(settings.sizes[split])]
        _write_log(staging / split / "log.csv", rows)
        summary["splits"][split] = {
            "items": len(rows),
            "seconds": round(sum(float(r["seconds"]) for r in rows), 3),
            "speakers": len({r["speaker"] for r in rows}),
            "reverberant": sum(r["reverberant"] == "yes" for r in rows),
        }
    clean_seconds = [journal.get(f"dns-clean/{k}") for k in range(settings.pool_sizes["clean"])]
    noise_seconds = [journal.get(f"dns-noise/{k}") for k in range(settings.pool_sizes["noise"])]
    rt60 = journal.get("dns-impulse-responses")
    summary["dns"] = {
        "clean": {"files": len(clean_seconds), "seconds": round(sum(clean_seconds), 3)},
        "noise": {"files": len(noise_seconds), "seconds": round(sum(noise_seconds), 3)},
        "impulse_responses": {"files": len(rt60), "rt60": rt60},
    }
    write_atomic(staging / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def synthesize_demo(
    out_dir: str | os.PathLike,
    sizes: Mapping[str, int],
    sample_rate: int = 16000,
    seed: int = 0,
    snr_range: Sequence[float] = (-5.0, 15.0),
    reverb_fraction: float = 0.3,
    utterance_seconds: Sequence[float] = (1.5, 4.0),
    pool_sizes: Mapping[str, int] | None = None,
    workers: int = 1,
    noise_types: Sequence[str] = NOISE_TYPES,
    rt60_range: Sequence[float] = (0.2, 0.8),
    rooms_per_split: int = 8,
    journal: Journal | None = None,
) -> dict:
    """Synthesize the demo corpus into out_dir (replacing it) and return its summary. With a
    journal, out_dir is a folder being prepared (prepare's staging); without, the corpus is
    built in a staging folder of its own, and an interrupted call is continued by the next.

    sizes: items per paired split, e.g. {"train": 400, "valid": 24, "test": 32}.
    sample_rate: Hz of every file. seed: the only source of randomness.
    snr_range: SNR in dB, drawn uniformly per pair. reverb_fraction: share of reverberant pairs.
    utterance_seconds: length range of every utterance (and DNS clean clip).
    pool_sizes: files per DNS pool {"clean", "noise", "impulse_responses"}; missing keys keep
        settings.DEFAULT_POOL_SIZES. workers: processes (the output does not depend on it).
    noise_types: subset of noise.NOISE_TYPES to draw from.
    rt60_range: RT60 in seconds of the simulated rooms. rooms_per_split: rooms simulated per
        split, shared by its reverberant pairs (simulation is the slow part).
    Raises SepflowError naming the key on a bad value.
    """
    settings = validate_settings(
        sizes,
        sample_rate,
        seed,
        snr_range,
        reverb_fraction,
        utterance_seconds,
        pool_sizes,
        noise_types,
        rt60_range,
        rooms_per_split,
    )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SepflowError(f"demo config: workers must be a whole number >= 1, got {workers!r}.")
    if journal is not None:
        return _build(settings, Path(out_dir), workers, journal)
    with resumable_folder(out_dir, repr(settings), log=lambda line: None) as staging:
        return _build(settings, staging.path, workers, staging.journal)
