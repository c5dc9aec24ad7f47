"""Audio examples in TensorBoard: after each validation, the first few validation items'
input (the mixture), each source's reference and each source's estimate, as playable audio
and as log-magnitude spectrogram images, so progress can be heard as well as read.

Tags: `examples/{index}/input`, `examples/{index}/{source}/reference` and
`examples/{index}/{source}/estimate` (audio), the same with `/spectrogram` appended (images).

- Estimates are written at every validation, at its step. The input and references never
  change, so they are written once per training process, at its first validation: once for
  a run, once more after a resume (cheaper than at every validation, and a resumed run does
  not have to know which of the earlier run's events survived TensorBoard's purge).
- Audio is mono, the downmix (the mean of the channels: a source panned to one side stays
  audible), at the dataset's sample rate, clipped to [-1, 1], and at most the first
  `SECONDS` of the item: the model runs on that excerpt, not on the whole item.
- Spectrograms are computed with torch.stft and coloured with a lookup table (no figure
  per image), on one fixed scale (dB relative to a full-scale sine, `FLOOR_DB` to 0) so
  images compare across signals and steps, at most ROWS x COLUMNS pixels.
- The model runs as validation runs it (the step's `estimate`: a GAN's mono generator, say,
  enhances each channel on its own).
- Writing examples must not change training: the model runs under no_grad in eval mode,
  its train/eval mode is restored, and the random number generators' states are restored
  (a model that draws random numbers at inference would otherwise shift the curve).
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from torch.utils.tensorboard import SummaryWriter

from sepflow.audio.stft import stft
from sepflow.train.steps import whole_estimate

SECONDS = 5.0  # longest excerpt written
FLOOR_DB = -80.0  # the spectrogram's colour scale: FLOOR_DB (black) to 0 dB (a full-scale sine)
ROWS, COLUMNS = 256, 512  # the most pixels a spectrogram image has


def spectrogram_size(sample_rate: int) -> int:
    """The FFT size: the power of two at or below 32 ms (512 at 16 kHz, 1024 at 44.1 kHz)."""
    return 1 << (max(256, int(0.032 * sample_rate)).bit_length() - 1)


def spectrogram_hop(sample_rate: int, length: int) -> int:
    """A quarter of the FFT size, or longer so that `length` samples make at most COLUMNS frames."""
    return max(spectrogram_size(sample_rate) // 4, -(-length // (COLUMNS - 1)))


@functools.cache
def _colours() -> np.ndarray:
    return (matplotlib.colormaps["magma"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def spectrogram_image(audio: torch.Tensor, sample_rate: int) -> np.ndarray:
    """A (frequencies, frames, 3) uint8 image of mono `audio` (time,): low frequencies at the
    bottom, the magma colour map over FLOOR_DB..0 dB relative to a full-scale sine. The
    Nyquist bin is left out and neighbouring bins' power is averaged down to at most ROWS
    rows (PNG encoding time and event size grow with the pixels)."""
    n_fft = spectrogram_size(sample_rate)
    spectrum = stft(audio.float(), n_fft, spectrogram_hop(sample_rate, audio.shape[-1]))[:-1]
    power = (spectrum.abs() / (n_fft / 4)) ** 2  # a full-scale sine peaks at 1
    power = F.adaptive_avg_pool2d(power[None], (min(len(power), ROWS), power.shape[1]))[0]
    db = 10 * torch.log10(power.clamp_min(1e-20))
    level = ((db - FLOOR_DB) / -FLOOR_DB).clamp(0, 1).flip(0)
    return _colours()[(level * 255).round().to(torch.uint8).cpu().numpy()]


def _mono(audio: torch.Tensor) -> torch.Tensor:
    """(channels, time) -> (time,): the downmix, clipped to what a wav holds."""
    return audio.float().mean(0).clamp(-1, 1).cpu()


class ValidationExamples:
    """The first `count` items of a validation set, cut to `seconds`, written by `write`."""

    def __init__(
        self, dataset: Dataset, sources: tuple[str, ...], sample_rate: int, count: int, seconds: float = SECONDS
    ):
        self.sources, self.sample_rate = tuple(sources), sample_rate
        length = round(seconds * sample_rate)
        # copies, so the whole items read (a full song, say) are not kept alive by their excerpts
        self.items = [tuple(x[..., :length].clone() for x in dataset[i]) for i in range(min(count, len(dataset)))]
        self.wrote_inputs = False

    def _write(self, writer: SummaryWriter, tag: str, audio: torch.Tensor, step: int) -> None:
        mono = _mono(audio)
        writer.add_audio(tag, mono, step, sample_rate=self.sample_rate)
        writer.add_image(f"{tag}/spectrogram", spectrogram_image(mono, self.sample_rate), step, dataformats="HWC")

    @torch.no_grad()
    def write(
        self, writer: SummaryWriter, model: torch.nn.Module, step: int, device: torch.device, estimate=whole_estimate
    ) -> None:
        """Each item's estimates at `step` (and, the first time, its input and references);
        `estimate(model, mixture, sources)` runs the model."""
        training = model.training
        model.eval()
        device = torch.device(device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for index, (mixture, targets) in enumerate(self.items):
                estimates = estimate(model, mixture[None].to(device), len(self.sources))[0]
                if not self.wrote_inputs:
                    self._write(writer, f"examples/{index}/input", mixture, step)
                for source, audio, reference in zip(self.sources, estimates, targets):
                    self._write(writer, f"examples/{index}/{source}/estimate", audio, step)
                    if not self.wrote_inputs:
                        self._write(writer, f"examples/{index}/{source}/reference", reference, step)
        self.wrote_inputs = True
        model.train(training)
