"""A tiny music separation set in the MUSDB18 decoded-WAV layout, synthesized.

    {out_dir}/{train,test}/{track}/{mixture,drums,bass,other,vocals}.wav   44.1 kHz stereo PCM16

Each track is a short loop-based song: a tempo, a key and a four-chord progression drive
all four stems. Drums are kick (pitch-swept sine), snare (noise plus a tone) and hi-hat
(high-passed noise) hits on a sixteenth-note grid; bass plays chord roots; "other" plays
plucked chords; vocals are eSpeak phrases (speech, not singing) placed on the bar lines.
The mixture is the sum of the stems; all five are scaled by one common factor if the
mixture would clip, so the sum stays exact up to PCM16 rounding. Vocal speakers differ
between train and test. The defaults (8 train and 3 test tracks of 10 s,
about 100 MB) synthesize in a few seconds and are enough for unet1d to beat the mixture
baseline on every stem after 3 CPU minutes of training (benchmarks/music_demo_training.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import signal

from sepflow.audio import normalize_rms, write_audio
from sepflow.data.staging import Journal, resumable_folder
from sepflow.demo.corpus import limit_peaks, task_rng
from sepflow.demo.sentences import make_sentence
from sepflow.demo.speakers import speaker_panels
from sepflow.demo.speech import Speaker, synthesize_speech
from sepflow.errors import SepflowError

MUSIC_SAMPLE_RATE = 44100
STEMS = ("drums", "bass", "other", "vocals")
STEM_LEVEL_DB = {"drums": (-28.0, -24.0), "bass": (-30.0, -26.0), "other": (-33.0, -28.0), "vocals": (-29.0, -25.0)}
PROGRESSIONS = ((0, 5, 7, 5), (0, 9, 5, 7), (0, 7, 9, 5), (0, 3, 8, 7))  # semitones above the key


def _tone(freq: float, n: int, sr: int, brightness: float) -> np.ndarray:
    """A harmonic tone of n samples with partials falling off as k**-brightness."""
    t = np.arange(n) / sr
    return sum(k**-brightness * np.sin(2 * np.pi * k * freq * t) for k in range(1, 8) if k * freq < sr / 2)


def _pluck(n: int, sr: int, decay: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(t / 0.005, 1.0) * np.exp(-t / decay)


def _add(track: np.ndarray, start: int, sound: np.ndarray) -> None:
    stop = min(track.size, start + sound.size)
    if start < stop:
        track[start:stop] += sound[: stop - start]


def _drums(rng, n, sr, step) -> tuple[np.ndarray, np.ndarray]:
    """(centre, hat) channels: kicks and snares in the centre, hats panned later."""
    centre, hats = np.zeros(n), np.zeros(n)
    t = np.arange(int(0.35 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(45 + 90 * np.exp(-t / 0.03)) / sr) * np.exp(-t / 0.12)
    t = np.arange(int(0.2 * sr)) / sr
    snare = (0.6 * rng.standard_normal(t.size) + 0.5 * np.sin(2 * np.pi * 185 * t)) * np.exp(-t / 0.05)
    hat_sos = signal.butter(4, 7000, "highpass", fs=sr, output="sos")
    kick_steps = {0, 8} | {int(s) for s in rng.choice([3, 6, 10, 11, 14], size=2, replace=False)}
    for i in range(n // step + 1):
        if i % 16 in kick_steps:
            _add(centre, i * step, kick)
        if i % 16 in (4, 12):
            _add(centre, i * step, 0.8 * snare)
        if i % 2 == 0 or rng.random() < 0.3:
            hit = signal.sosfilt(hat_sos, rng.standard_normal(int(0.04 * sr))) * np.exp(
                -np.arange(int(0.04 * sr)) / (0.01 * sr)
            )
            _add(hats, i * step, rng.uniform(0.2, 0.4) * hit)
    return centre, hats


def _bass(rng, n, sr, step, roots) -> np.ndarray:
    out = np.zeros(n)
    for i in range(0, n // step + 1, 4):  # one note per beat
        freq = roots[(i // 16) % len(roots)] / 4
        note = _tone(freq, 4 * step, sr, 2.0) * _pluck(4 * step, sr, 0.25)
        _add(out, i * step, note)
    return out


def _chords(rng, n, sr, step, roots) -> np.ndarray:
    out = np.zeros(n)
    decay = rng.uniform(0.3, 0.8)
    for i in range(0, n // step + 1, 8):  # a chord every half bar
        root = roots[(i // 16) % len(roots)]
        for interval in (0, 4, 7) if rng.random() < 0.7 else (0, 3, 7):
            chord_tone = _tone(root * 2 ** (interval / 12), 8 * step, sr, 1.2) * _pluck(8 * step, sr, decay)
            _add(out, i * step, chord_tone / 3)
    return out


def _vocals(rng, n, sr, step, speaker: Speaker) -> np.ndarray:
    out = np.zeros(n)
    for bar_start in range(0, n, 32 * step):  # a phrase every other bar
        phrase = synthesize_speech(
            make_sentence(rng, int(rng.integers(3, 7))), speaker, sr, seed=int(rng.integers(2**31))
        )
        _add(out, bar_start, phrase[: 32 * step])
    return out


def _pan(mono: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan; position -1 (left) .. 1 (right)."""
    angle = (position + 1) * np.pi / 4
    return np.stack([np.cos(angle) * mono, np.sin(angle) * mono])


def _track(rng: np.random.Generator, seconds: float, speakers: list[Speaker]) -> dict[str, np.ndarray]:
    """The four stereo stems and their mixture, float32 (2, n)."""
    sr = MUSIC_SAMPLE_RATE
    n = int(seconds * sr)
    step = int(sr * 60 / rng.uniform(85, 135) / 4)  # a sixteenth note
    key = 110 * 2 ** (int(rng.integers(12)) / 12)
    roots = [key * 2 ** (s / 12) for s in PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]]
    centre, hats = _drums(rng, n, sr, step)
    speaker = speakers[int(rng.integers(len(speakers)))]
    stems = {
        "drums": _pan(centre, 0.0) + _pan(hats, rng.uniform(-0.5, 0.5)),
        "bass": _pan(_bass(rng, n, sr, step, roots), 0.0),
        "other": _pan(_chords(rng, n, sr, step, roots), rng.uniform(-0.6, 0.6)),
        "vocals": _pan(_vocals(rng, n, sr, step, speaker), rng.uniform(-0.1, 0.1)),
    }
    stems = {name: normalize_rms(audio, rng.uniform(*STEM_LEVEL_DB[name])) for name, audio in stems.items()}
    mixture = sum(stems.values())
    *scaled, mixture = limit_peaks(*stems.values(), mixture)
    return {**dict(zip(STEMS, scaled)), "mixture": mixture}


def synthesize_music(
    out_dir: str | os.PathLike,
    n_train: int = 8,
    n_test: int = 3,
    seed: int = 0,
    seconds: float = 10.0,
    n_valid: int = 0,
    journal: Journal | None = None,
) -> dict:
    """Write the MUSDB18-style set into out_dir (replacing it); return {split: [track names]}.
    A valid split (for model selection, its own vocal speakers) is written when n_valid > 0.
    With a journal, out_dir is a folder being prepared and finished tracks are kept; without,
    the set is built in a staging folder of its own that an interrupted call leaves to the next."""
    for key, value in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SepflowError(f"demo music config: {key} must be a whole number >= 0, got {value!r}.")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1.0 <= seconds <= 120.0:
        raise SepflowError(f"demo music config: seconds must be a number in [1, 120], got {seconds!r}.")
    panels = speaker_panels(["music-train", "music-test", "music-valid"], seed)

    def build(staging: Path, journal: Journal) -> dict:
        names: dict[str, list[str]] = {}
        for split, count in (("train", n_train), ("valid", n_valid), ("test", n_test)):
            if split == "valid" and not count:
                continue
            names[split] = []
            (staging / split).mkdir(exist_ok=True)
            for k in range(count):
                name = f"synth_{split}_{k:02d}"
                if f"{split}/{name}" not in journal:
                    track = _track(task_rng(seed, "music", split, k), seconds, panels[f"music-{split}"])
                    for stem, audio in track.items():
                        write_audio(staging / split / name / f"{stem}.wav", audio, MUSIC_SAMPLE_RATE)
                    journal.done(f"{split}/{name}")
                names[split].append(name)
        return names

    if journal is not None:
        return build(Path(out_dir), journal)
    settings = repr((n_train, n_valid, n_test, seed, seconds))
    with resumable_folder(out_dir, settings, log=lambda line: None) as staging:
        return build(staging.path, staging.journal)
