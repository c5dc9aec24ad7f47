"""Audio primitives every stage shares: file I/O, resampling, levels and mixing.

The torch STFT helpers live in sepflow.audio.stft, imported only by what needs torch.
"""

from sepflow.audio.io import audio_info, read_audio, write_audio
from sepflow.audio.levels import (
    apply_gain_db,
    mix_at_snr,
    normalize_rms,
    rms_db,
    si_snr,
    snr_db,
)
from sepflow.audio.resample import resample

__all__ = [
    "apply_gain_db",
    "audio_info",
    "mix_at_snr",
    "normalize_rms",
    "read_audio",
    "resample",
    "rms_db",
    "si_snr",
    "snr_db",
    "write_audio",
]
