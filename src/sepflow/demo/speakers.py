"""Synthetic speaker panels, disjoint between groups (splits and pools).

As in VoiceBank+DEMAND, test talkers must be unseen in training. A speaker's timbre comes
from its eSpeak voice variant, so the variants are dealt out to the groups like cards:
no variant appears in two groups. Accent and prosody (rate, pitch, pitch range) are drawn
per speaker on top.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sepflow.demo.speech import ACCENTS, Speaker, voice_variants

RATE_RANGE = (130, 210)  # words per minute
PITCH_RANGE = (25, 75)
PITCH_SPAN_RANGE = (30, 85)


def speaker_panels(groups: Sequence[str], seed: int) -> dict[str, list[Speaker]]:
    """For each group name, its own list of speakers; the same (groups, seed) give the same panels."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5BEA]))
    variants = voice_variants()
    order = rng.permutation(len(variants))
    panels: dict[str, list[Speaker]] = {}
    for g, group in enumerate(groups):
        panels[group] = [
            Speaker(
                accent=ACCENTS[int(rng.integers(len(ACCENTS)))],
                variant=variants[i],
                rate=int(rng.integers(RATE_RANGE[0], RATE_RANGE[1] + 1)),
                pitch=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                pitch_range=int(rng.integers(PITCH_SPAN_RANGE[0], PITCH_SPAN_RANGE[1] + 1)),
            )
            for i in order[g :: len(groups)]
        ]
    return panels
