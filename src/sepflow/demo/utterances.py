"""One clean utterance: a generated sentence spoken by a speaker, framed and levelled.

eSpeak's length for a sentence is only roughly predictable, so we ask for about the right
number of words (retrying with fewer if the result runs too long), trim eSpeak's own leading
and trailing silence, add a short random silence on both sides (recorded corpora have it
too), and pad up to the shortest allowed length.
The level is drawn per utterance, so models cannot rely on a fixed input level.
"""

from __future__ import annotations

import numpy as np

from sepflow.audio import normalize_rms
from sepflow.demo.sentences import make_sentence
from sepflow.demo.speech import Speaker, synthesize_speech

SPEECH_LEVEL_DB = (-32.0, -22.0)  # active-speech-inclusive RMS, dBFS
WORDS_PER_SECOND_FACTOR = 1.15  # eSpeak speaks ~18% faster than its nominal words per minute
SILENCE_SECONDS = (0.05, 0.3)
FADE_SECONDS = 0.02
MAX_ATTEMPTS = 3


def trim_silence(audio: np.ndarray, threshold_db: float = -50.0) -> np.ndarray:
    """Drop leading and trailing samples quieter than threshold_db below the peak."""
    peak = np.max(np.abs(audio), initial=0.0)
    if peak == 0.0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > peak * 10 ** (threshold_db / 20))
    return audio[loud[0] : loud[-1] + 1]


def make_utterance(
    rng: np.random.Generator, speaker: Speaker, sample_rate: int, seconds_range: tuple[float, float]
) -> tuple[np.ndarray, str]:
    """(float32 mono audio within seconds_range, its text)."""
    lead, tail = (int(rng.uniform(*SILENCE_SECONDS) * sample_rate) for _ in range(2))
    speech_seconds = rng.uniform(*seconds_range) - (lead + tail) / sample_rate
    n_words = max(3, int(speech_seconds * speaker.rate / 60 * WORDS_PER_SECOND_FACTOR))  # int(): sentences overshoot
    longest = int(seconds_range[1] * sample_rate)
    for _ in range(MAX_ATTEMPTS):  # a sentence that runs too long is retried shorter, not cut
        text = make_sentence(rng, n_words)
        speech = trim_silence(synthesize_speech(text, speaker, sample_rate, seed=int(rng.integers(2**31))))
        if lead + speech.size + tail <= longest or n_words == 3:
            break
        n_words = max(3, int(n_words * 0.75))
    length = int(np.clip(lead + speech.size + tail, seconds_range[0] * sample_rate, longest))
    out = np.zeros(length, dtype=np.float32)
    kept = speech[: max(0, length - lead)].copy()
    if kept.size < speech.size:  # cut mid-word: fade out instead of clicking
        fade = min(kept.size, int(FADE_SECONDS * sample_rate))
        kept[kept.size - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    out[lead : lead + kept.size] = kept
    return normalize_rms(out, rng.uniform(*SPEECH_LEVEL_DB)), text
