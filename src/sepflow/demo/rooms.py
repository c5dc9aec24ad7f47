"""Room impulse responses from pyroomacoustics' image source method in random shoebox rooms.

Sabine's formula (pyroomacoustics.inverse_sabine) sets the wall absorption and reflection
order for a target RT60, but a shoebox with uniform absorption decays more slowly than
Sabine predicts (by up to ~40% here). So we measure the RT60 of the simulated response, and
if it misses the target by more than 15% we rescale the design target once and simulate
again. The RT60 we report is the measured one.

Responses are cut to start at the direct path and scaled so the direct path is 1, so speech
through any leading part of the response (the clean target keeps the early reflections, see
corpus.py) is time-aligned and level-matched with the reverberant speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyroomacoustics as pra

from sepflow.errors import SepflowError

ROOM_SIZE_RANGE = ((3.0, 10.0), (3.0, 8.0), (2.5, 4.0))  # metres: length, width, height
WALL_MARGIN = 0.5  # metres between walls and source or microphone


@dataclass(frozen=True)
class RoomResponse:
    rir: np.ndarray  # float32, direct path at sample 0 with value 1
    rt60: float  # measured, seconds
    dimensions: tuple[float, float, float]


def _simulate(dimensions: np.ndarray, source: np.ndarray, mic: np.ndarray, rt60: float, sample_rate: int) -> np.ndarray:
    absorption, max_order = pra.inverse_sabine(rt60, dimensions)
    room = pra.ShoeBox(dimensions, fs=sample_rate, materials=pra.Material(absorption), max_order=max_order)
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float64)


def _measure_rt60(rir: np.ndarray, sample_rate: int) -> float:
    """RT60 extrapolated from the first 20 dB of the Schroeder decay (robust to the tail's end)."""
    return float(pra.experimental.measure_rt60(rir, fs=sample_rate, decay_db=20))


def align_to_direct_path(rir: np.ndarray) -> np.ndarray:
    """Drop the propagation delay and scale so the strongest tap (the direct path) is 1."""
    start = int(np.argmax(np.abs(rir)))
    return (rir[start:] / rir[start]).astype(np.float32)


def random_room(rng: np.random.Generator, sample_rate: int, rt60_range: tuple[float, float]) -> RoomResponse:
    """A random shoebox room, source and microphone; RT60 drawn uniformly from rt60_range."""
    target = rng.uniform(*rt60_range)
    dimensions = np.array([rng.uniform(lo, hi) for lo, hi in ROOM_SIZE_RANGE])
    while True:  # a very short RT60 is unreachable in a large room: shrink it until feasible
        try:
            pra.inverse_sabine(target, dimensions)
            break
        except ValueError:
            dimensions *= 0.8
            if dimensions[2] < 2.0:
                raise SepflowError(f"rt60_range {rt60_range} is too short for any room; use values >= 0.1 s.") from None
    source = np.array([rng.uniform(WALL_MARGIN, d - WALL_MARGIN) for d in dimensions[:2]] + [rng.uniform(1.2, 1.9)])
    mic = np.array([rng.uniform(WALL_MARGIN, d - WALL_MARGIN) for d in dimensions[:2]] + [rng.uniform(0.8, 1.6)])
    rir = _simulate(dimensions, source, mic, target, sample_rate)
    measured = _measure_rt60(rir, sample_rate)
    if abs(measured - target) > 0.15 * target:
        rir = _simulate(dimensions, source, mic, target * target / measured, sample_rate)
        measured = _measure_rt60(rir, sample_rate)
    return RoomResponse(align_to_direct_path(rir), round(measured, 3), tuple(float(d) for d in dimensions))
