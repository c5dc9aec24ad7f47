"""A causal Demucs stream as three fixed-shape graphs with the streamer's buffers as explicit
tensors: `first` (the first, longer hop, from the empty state), `hop` (every later hop) and
`flush` (the end of the signal), for ONNX export.

Each graph runs `DemucsStreamer`'s own step on tensors loaded into a fresh streamer, so the
graphs compute what the PyTorch streamer computes. After the first hop every buffer keeps
its size from hop to hop (checked when the graphs are built), so one `hop` graph serves
the whole stream. The running normalisation (count, sum and sum of squares of the input,
in float64) is state too; `valid` says how many leading samples of a block are input, the
rest being the zero padding the end of a signal needs.

The end of a signal: with P samples pending (0 <= P < hop), the offline model pads to its
valid length, which leaves a final block of `flush_block` samples when P <= flush_block and
of hop + flush_block samples otherwise; the second case is a `hop` graph on the padded
pending samples followed by `flush` on zeros. A signal shorter than the first hop is one
final block: the offline graph computes exactly that.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sepflow.errors import SepflowError
from sepflow.export.stream_graphs import State, StreamGraphs
from sepflow.models.demucs import Demucs
from sepflow.models.demucs_stream import DemucsStreamer


class _TensorStatsStreamer(DemucsStreamer):
    """`DemucsStreamer` whose running std lives in one float64 tensor (count, sum, sum of
    squares of the mono input), counting `valid` samples of each block, so a graph can carry it."""

    def reset(self) -> None:
        super().reset()
        self.stats = torch.zeros(3, dtype=torch.float64)
        self.valid = None

    def _scale(self, block: torch.Tensor) -> torch.Tensor:
        mono = block.mean(dim=0, dtype=torch.float64)  # padding is zeros: it adds nothing to the sums
        valid = self.valid.to(torch.float64) if self.valid is not None else mono.new_tensor(mono.shape[0])
        count, total, squares = self.stats + torch.stack([valid, mono.sum(), mono.square().sum()])
        self.stats = torch.stack([count, total, squares])
        variance = (squares - total**2 / count) / (count - 1).clamp_min(1)
        return variance.clamp_min(0).sqrt()


def _slots(streamer: DemucsStreamer) -> list[tuple[str, object, str | int]]:
    """Every tensor of the stream's state as (meaning, owner, key), in a fixed order."""
    slots = []
    for i, stage in enumerate(streamer._upsample):
        slots.append((f"upsampler {i}: past input samples", stage, "buffer"))
    for i, stage in enumerate(streamer._encoders):
        slots.append((f"encoder {i}: input not yet in a window", stage, "buffer"))
    for i, stage in enumerate(streamer._decoders):
        slots.append((f"decoder {i}: skip frames not yet used", stage, "skip"))
        slots.append((f"decoder {i}: overlap-add tail (no bias)", stage, "overlap"))
    for i, stage in enumerate(streamer._downsample):
        slots.append((f"downsampler {i}: unpaired sample", stage, "unpaired"))
        slots.append((f"downsampler {i}: even samples waiting", stage, "even"))
        slots.append((f"downsampler {i}: odd samples (past and waiting)", stage, "odd"))
    for layer in range(streamer.model.lstm.lstm.num_layers):
        slots.append((f"LSTM layer {layer}: hidden state", streamer, ("hidden", layer)))
        slots.append((f"LSTM layer {layer}: cell state", streamer, ("cell", layer)))
    if streamer.model.normalize:
        slots.append(("input count, sum, sum of squares (float64)", streamer, "stats"))
    return slots


def _get(owner, key) -> torch.Tensor | None:
    """The slot's tensor; None for the LSTM's state before its first step."""
    if isinstance(key, tuple):
        return None if owner._lstm_state is None else owner._lstm_state[0 if key[0] == "hidden" else 1][key[1]]
    return getattr(owner, key)


def _set(owner, key, value: torch.Tensor) -> None:
    if isinstance(key, tuple):
        if owner._lstm_state is None:
            layers = owner.model.lstm.lstm.num_layers
            owner._lstm_state = ([None] * layers, [None] * layers)
        owner._lstm_state[0 if key[0] == "hidden" else 1][key[1]] = value
    else:
        setattr(owner, key, value)


class DemucsStep(nn.Module):
    """forward(audio (chin, block), [valid ()], *state) -> (out (chout, made), *state'): one
    block of the stream; `kind` is "first" (from the empty state), "hop" or "flush"."""

    def __init__(self, model: Demucs, kind: str, kept: list[int]):
        super().__init__()
        self.model, self.kind, self.kept = model, kind, kept
        self._streamer = _TensorStatsStreamer(model)

    def forward(self, audio: torch.Tensor, *inputs: torch.Tensor):
        streamer = self._streamer
        streamer.reset()
        if self.model.normalize:
            streamer.valid, inputs = inputs[0], inputs[1:]
        if self.kind != "first":
            slots = _slots(streamer)
            for index, value in zip(self.kept, inputs):
                _set(slots[index][1], slots[index][2], value)
        out = streamer._wet(audio, real=audio.shape[1], final=self.kind == "flush")
        slots = _slots(streamer)
        return (out, *(_get(slots[i][1], slots[i][2]) for i in self.kept))


def _states(streamer: DemucsStreamer) -> list[State]:
    return [State(name, tuple(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in _tensors(streamer)]


def _tensors(streamer: DemucsStreamer) -> list[tuple[str, torch.Tensor]]:
    return [(name, _get(owner, key)) for name, owner, key in _slots(streamer)]


def _steady_state(streamer: _TensorStatsStreamer) -> list[State]:
    """The state after the first hop, checked to keep its shapes over later hops (each of
    which must release one hop), and its empty buffers to be empty from the start (a graph
    leaves them out)."""
    streamer.reset()
    empty_at_reset = {name for name, t in _tensors(streamer) if t is not None and t.numel() == 0}
    zeros = torch.zeros(streamer.model.chin, streamer.first_hop)
    with torch.no_grad():
        streamer._wet(zeros, streamer.first_hop, final=False)
        steady = _states(streamer)
        for _ in range(3):
            made = streamer._wet(zeros[:, : streamer.hop], streamer.hop, final=False).shape[1]
            if _states(streamer) != steady or made != streamer.hop:
                raise SepflowError(
                    "this Demucs's stream buffers change size from hop to hop; export it with --offline-only"
                )
    if any(math.prod(state.shape) == 0 and state.meaning not in empty_at_reset for state in steady):
        raise SepflowError("this Demucs's stream empties a buffer after its first hop; export it with --offline-only")
    return steady


def _flush_block(model: Demucs, first_hop: int, hop: int) -> int:
    """Samples of the final block when at most that many are pending (else one hop more):
    the offline model's padding to its valid length, checked for every pending count."""
    consumed = first_hop + 2 * hop
    finals = [model.valid_length(consumed + pending) - consumed for pending in range(hop)]
    block = finals[0]
    if not 0 < block <= hop or finals != [block if p <= block else block + hop for p in range(hop)]:
        raise SepflowError("this Demucs's final block does not follow its hop; export it with --offline-only")
    return block


def demucs_stream(model: Demucs) -> StreamGraphs:
    if model.training:
        raise ValueError("Demucs stream graphs need an eval-mode model: call model.eval()")
    streamer = _TensorStatsStreamer(model)  # one LSTM step per hop, as make_streamer builds it
    states = _steady_state(streamer)
    kept = [i for i, state in enumerate(states) if math.prod(state.shape) > 0]
    states = [states[i] for i in kept]
    flush_block = _flush_block(model, streamer.first_hop, streamer.hop)
    modules = {}
    for kind, block in (("first", streamer.first_hop), ("hop", streamer.hop), ("flush", flush_block)):
        example = [torch.zeros(model.chin, block)]
        if model.normalize:
            example.append(torch.tensor(block, dtype=torch.int64))
        if kind != "first":
            example += [state.zeros() for state in states]
        modules[kind] = (DemucsStep(model, kind, kept).eval(), tuple(example))
    return StreamGraphs(
        hop=streamer.hop,
        first_hop=streamer.first_hop,
        latency=streamer.latency,
        delay=0,
        flush_block=flush_block,
        valid=model.normalize,
        states=states,
        modules=modules,
    )
