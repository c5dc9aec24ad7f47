"""Separating audio files of any length in bounded memory: read, resampled to the model's
rate, separated, resampled back and written block by block, so a three-hour recording needs
the memory of a block and a model window, not of the file. The result equals separating the
whole file at once (the windows, cross-fades and resampling are those of the whole signal).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from sepflow.audio.io import AudioWriter, audio_info, read_blocks
from sepflow.audio.resample import Resampler
from sepflow.infer.offline import model_batch


class Separator(Protocol):
    """One file's separation, fed in blocks: (channels, n) in, (sources, channels', m) out."""

    def feed(self, x: torch.Tensor) -> torch.Tensor | None:
        """More input; the output now final, or None."""

    def finish(self) -> torch.Tensor:
        """The rest of the output, once the input has ended."""


class StreamerSeparator:
    """A causal model's streamer (one per channel a mono model hears) fed `chunk` samples at
    a time, as sepflow.models.streaming.stream feeds it a whole signal."""

    def __init__(self, make_streamer: Callable, model_channels: int, mode: str, chunk: int):
        self.make_streamer, self.model_channels, self.mode, self.chunk = make_streamer, model_channels, mode, chunk
        self.streamers: list | None = None
        self.pending: torch.Tensor | None = None

    def _run(self, x: torch.Tensor, last: bool) -> torch.Tensor | None:
        batch, unshape = model_batch(x, self.model_channels, self.mode)
        if self.streamers is None:
            self.streamers = [self.make_streamer() for _ in range(batch.shape[0])]
        outs = []
        for streamer, signal in zip(self.streamers, batch):
            pieces = [streamer.feed(signal[:, k : k + self.chunk]) for k in range(0, signal.shape[-1], self.chunk)]
            outs.append(torch.cat([*pieces, streamer.flush()] if last else pieces, dim=1))
        return unshape(torch.stack(outs)[:, None]) if outs[0].shape[-1] or last else None

    def feed(self, x: torch.Tensor) -> torch.Tensor | None:
        x = x if self.pending is None else torch.cat([self.pending, x], -1)
        whole = x.shape[-1] - x.shape[-1] % self.chunk
        self.pending = x[..., whole:]
        return self._run(x[..., :whole], last=False) if whole else None

    def finish(self) -> torch.Tensor:
        return self._run(self.pending, last=True)


class WholeSignalSeparator:
    """A separator that runs on whole signals (another toolkit's enhancer, which keeps its own
    frames and state): the input is gathered and run once it has ended. A mono system hears each
    channel, or the downmix."""

    def __init__(self, process: Callable, mode: str = "per_channel"):
        self.process, self.mode, self.parts = process, mode, []

    def feed(self, x: torch.Tensor) -> None:
        self.parts.append(x)

    def finish(self) -> torch.Tensor:
        x = torch.cat(self.parts, dim=-1)
        if self.mode == "downmix":
            x = x.mean(0, keepdim=True)
        return torch.from_numpy(self.process(x.numpy()))


@torch.inference_mode()
def separate_file(
    source: Path,
    outputs: dict[str, Path],
    separator: Separator,
    model_rate: int,
    out_channels: int,
    subtype: str = "PCM_16",
    block_seconds: float = 10.0,
    progress: Callable[[float], None] = lambda seconds: None,
) -> None:
    """Separate `source` into `outputs` (source name -> path; each as long as the input, at its rate), `block_seconds`
    of input at a time (`progress` hears each block's seconds); every output appears whole, or
    not at all if anything fails."""
    info = audio_info(source)
    down = Resampler(info.sample_rate, model_rate, info.channels)
    up = [Resampler(model_rate, info.sample_rate, out_channels) for _ in outputs]
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(AudioWriter(path, info.sample_rate, out_channels, info.frames, subtype))
            for path in outputs.values()
        ]

        def write(estimates: torch.Tensor | None, last: bool = False) -> None:
            if estimates is None and not last:
                return
            for k, (resampler, writer) in enumerate(zip(up, writers)):
                if estimates is not None:
                    writer.write(resampler.feed(estimates[k].numpy()))
                if last:
                    writer.write(resampler.finish())

        block = max(1, round(block_seconds * info.sample_rate))
        for audio in read_blocks(source, block):
            write(separator.feed(torch.from_numpy(down.feed(audio))))
            progress(audio.shape[-1] / info.sample_rate)
        rest = down.finish()
        if rest.shape[-1]:
            write(separator.feed(torch.from_numpy(rest)))
        write(separator.finish(), last=True)
