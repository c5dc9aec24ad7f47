"""The embedded demo corpus, synthesized offline: eSpeak NG speech, synthetic noise, simulated rooms.

synthesize_demo writes paired sets (VoiceBank+DEMAND layout) and DNS-style pools;
synthesize_music writes a small MUSDB18-style set. See corpus.py and music.py.
"""

from sepflow.data.demo.corpus import synthesize_demo
from sepflow.data.demo.music import synthesize_music
from sepflow.data.demo.noise import NOISE_TYPES

__all__ = ["NOISE_TYPES", "synthesize_demo", "synthesize_music"]
