"""SEMamba: official state-dict layout, the pure-PyTorch selective scan against a step-by-step
recurrence, bounded memory on a 60 s input, PCS400 against a transcription of its framing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sepflow.audio.pcs import pcs400, pcs400_exponents
from sepflow.models import build_model, count_parameters
from sepflow.models.mamba import Mamba, selective_scan, use_backend
from sepflow.models.metric_discriminator import MetricDiscriminator
from sepflow.models.semamba import BiMamba, SEMamba

GENERATOR_PARAMETERS = 2_258_769
DISCRIMINATOR_PARAMETERS = 181_650


def official_generator_shapes(
    h: int = 64, blocks: int = 4, d_state: int = 16, d_conv: int = 4, expand: int = 4, n_freq: int = 201
) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the official SEMamba generator, from its architecture."""
    d_inner, dt_rank = expand * h, -(-h // 16)
    t: dict[str, tuple[int, ...]] = {}

    def norm_act(prefix: str, c: int) -> None:
        t[f"{prefix}.weight"], t[f"{prefix}.bias"] = (c,), (c,)

    def dense_block(prefix: str) -> None:
        for i in range(4):
            t[f"{prefix}.dense_block.{i}.0.weight"] = (h, h * (i + 1), 3, 3)
            t[f"{prefix}.dense_block.{i}.0.bias"] = (h,)
            norm_act(f"{prefix}.dense_block.{i}.1", h)
            t[f"{prefix}.dense_block.{i}.2.weight"] = (h,)

    t["dense_encoder.dense_conv_1.0.weight"], t["dense_encoder.dense_conv_1.0.bias"] = (h, 2, 1, 1), (h,)
    norm_act("dense_encoder.dense_conv_1.1", h)
    t["dense_encoder.dense_conv_1.2.weight"] = (h,)
    dense_block("dense_encoder.dense_block")
    t["dense_encoder.dense_conv_2.0.weight"], t["dense_encoder.dense_conv_2.0.bias"] = (h, h, 1, 3), (h,)
    norm_act("dense_encoder.dense_conv_2.1", h)
    t["dense_encoder.dense_conv_2.2.weight"] = (h,)
    for b in range(blocks):
        for axis in ("time", "freq"):
            for direction in ("forward", "backward"):
                p = f"TSMamba.{b}.{axis}_mamba.{direction}_blocks.0"
                t[f"{p}.norm.weight"] = (h,)
                t[f"{p}.mixer.in_proj.weight"] = (2 * d_inner, h)
                t[f"{p}.mixer.conv1d.weight"], t[f"{p}.mixer.conv1d.bias"] = (d_inner, 1, d_conv), (d_inner,)
                t[f"{p}.mixer.x_proj.weight"] = (dt_rank + 2 * d_state, d_inner)
                t[f"{p}.mixer.dt_proj.weight"], t[f"{p}.mixer.dt_proj.bias"] = (d_inner, dt_rank), (d_inner,)
                t[f"{p}.mixer.A_log"], t[f"{p}.mixer.D"] = (d_inner, d_state), (d_inner,)
                t[f"{p}.mixer.out_proj.weight"] = (h, d_inner)
        for lin in ("tlinear", "flinear"):
            t[f"TSMamba.{b}.{lin}.weight"], t[f"TSMamba.{b}.{lin}.bias"] = (2 * h, h, 1), (h,)
    dense_block("mask_decoder.dense_block")
    t["mask_decoder.mask_conv.0.weight"], t["mask_decoder.mask_conv.0.bias"] = (h, h, 1, 3), (h,)
    t["mask_decoder.mask_conv.1.weight"], t["mask_decoder.mask_conv.1.bias"] = (1, h, 1, 1), (1,)
    norm_act("mask_decoder.mask_conv.2", 1)
    t["mask_decoder.mask_conv.3.weight"] = (1,)
    t["mask_decoder.mask_conv.4.weight"], t["mask_decoder.mask_conv.4.bias"] = (1, 1, 1, 1), (1,)
    t["mask_decoder.lsigmoid.slope"] = (n_freq, 1)
    dense_block("phase_decoder.dense_block")
    t["phase_decoder.phase_conv.0.weight"], t["phase_decoder.phase_conv.0.bias"] = (h, h, 1, 3), (h,)
    norm_act("phase_decoder.phase_conv.1", h)
    t["phase_decoder.phase_conv.2.weight"] = (h,)
    for head in ("r", "i"):
        t[f"phase_decoder.phase_conv_{head}.weight"], t[f"phase_decoder.phase_conv_{head}.bias"] = (1, h, 1, 1), (1,)
    return t


def official_discriminator_shapes(dim: int = 16) -> tuple[dict[str, tuple[int, ...]], int]:
    """Names and shapes of the official pretrained_discriminator.pth, and its parameter count
    (spectral norm's weight_u / weight_v are buffers)."""
    t: dict[str, tuple[int, ...]] = {}
    buffers = 0
    channels = [2, dim, dim * 2, dim * 4, dim * 8]
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
        t[f"layers.{3 * i}.weight_orig"] = (c_out, c_in, 4, 4)
        t[f"layers.{3 * i}.weight_u"], t[f"layers.{3 * i}.weight_v"] = (c_out,), (c_in * 16,)
        t[f"layers.{3 * i + 1}.weight"], t[f"layers.{3 * i + 1}.bias"] = (c_out,), (c_out,)
        t[f"layers.{3 * i + 2}.weight"] = (c_out,)
        buffers += c_out + c_in * 16
    t["layers.14.weight_orig"], t["layers.14.bias"] = (dim * 4, dim * 8), (dim * 4,)
    t["layers.14.weight_u"], t["layers.14.weight_v"] = (dim * 4,), (dim * 8,)
    t["layers.16.weight"] = (dim * 4,)
    t["layers.17.weight_orig"], t["layers.17.bias"] = (1, dim * 4), (1,)
    t["layers.17.weight_u"], t["layers.17.weight_v"] = (1,), (dim * 4,)
    t["layers.18.slope"] = (1,)
    buffers += dim * 4 + dim * 8 + 1 + dim * 4
    return t, sum(int(np.prod(s)) for s in t.values()) - buffers


def _random_state(table: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {name: torch.randn(shape, generator=g) for name, shape in table.items()}


def test_generator_matches_the_official_layout_and_loads_strictly():
    table = official_generator_shapes()
    assert len(table) == 265 and sum(int(np.prod(s)) for s in table.values()) == GENERATOR_PARAMETERS
    model = build_model("semamba")
    assert count_parameters(model) == GENERATOR_PARAMETERS
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == table
    assert table["TSMamba.0.time_mamba.forward_blocks.0.mixer.A_log"] == (256, 16)
    state = _random_state(table)
    model.load_state_dict(state, strict=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_discriminator_matches_the_official_layout_and_loads_strictly():
    table, parameters = official_discriminator_shapes()
    assert parameters == DISCRIMINATOR_PARAMETERS
    disc = MetricDiscriminator()
    assert count_parameters(disc) == DISCRIMINATOR_PARAMETERS
    assert {k: tuple(v.shape) for k, v in disc.state_dict().items()} == table
    disc.load_state_dict(_random_state(table), strict=True)
    score = disc.eval()(torch.rand(2, 201, 80), torch.rand(2, 201, 80))
    assert score.shape == (2, 1) and ((score > 0) & (score < 1)).all()


def test_mamba_initialisation_is_mamba_ssms():
    torch.manual_seed(0)
    m = Mamba(64, d_state=16, d_conv=4, expand=4)
    assert torch.equal(m.A_log, torch.log(torch.arange(1.0, 17.0)).repeat(256, 1))
    assert torch.equal(m.D, torch.ones(256))
    dt = F.softplus(m.dt_proj.bias)
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    assert m.dt_proj.weight.abs().max() <= 4**-0.5 and m.in_proj.bias is None and m.out_proj.bias is None


def _reference_scan(u, delta, A, B, C, D, z, delta_bias):
    """h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = C_t h_t + D u_t, times silu(z_t);
    one time step after another, float64."""
    delta = F.softplus(delta + delta_bias[:, None])
    h = torch.zeros(u.shape[0], A.shape[0], A.shape[1], dtype=torch.float64)
    ys = []
    for t in range(u.shape[-1]):
        h = torch.exp(delta[:, :, t, None] * A) * h + (delta[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
        ys.append((h * C[:, None, :, t]).sum(-1) + D * u[:, :, t])
    return torch.stack(ys, dim=-1) * F.silu(z)


@pytest.mark.parametrize("length", [1, 7, 67, 203])
def test_selective_scan_equals_the_step_by_step_recurrence(length):
    g = torch.Generator().manual_seed(length)
    batch, d_inner, d_state = 3, 5, 4

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    u, delta, z = r(batch, d_inner, length), r(batch, d_inner, length), r(batch, d_inner, length)
    B, C = r(batch, d_state, length), r(batch, d_state, length)
    A = -torch.rand(d_inner, d_state, generator=g, dtype=torch.float64) * 8
    D, bias = r(d_inner), r(d_inner)
    expected = _reference_scan(u, delta, A, B, C, D, z, bias)
    for chunk in (16, 64):  # several chunks with a state carried between them, and one
        got = selective_scan(u, delta, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True, chunk=chunk)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    got32 = selective_scan(
        *(t.float() for t in (u, delta, A, B, C, D)), z=z.float(), delta_bias=bias.float(), delta_softplus=True
    )
    torch.testing.assert_close(got32.double(), expected, rtol=1e-4, atol=1e-4)


def _reference_mamba(m: Mamba, x: torch.Tensor) -> torch.Tensor:
    """mamba_ssm's reference forward (conv, projections) around the step-by-step scan."""
    length = x.shape[1]
    xz = (x @ m.in_proj.weight.t()).transpose(1, 2)
    u, z = xz.chunk(2, dim=1)
    u = F.silu(F.conv1d(u, m.conv1d.weight, m.conv1d.bias, padding=m.d_conv - 1, groups=m.d_inner)[..., :length])
    dt, B, C = torch.split(u.transpose(1, 2) @ m.x_proj.weight.t(), [m.dt_rank, m.d_state, m.d_state], dim=-1)
    delta = (dt @ m.dt_proj.weight.t()).transpose(1, 2)
    y = _reference_scan(u, delta, -torch.exp(m.A_log), B.transpose(1, 2), C.transpose(1, 2), m.D, z, m.dt_proj.bias)
    return y.transpose(1, 2) @ m.out_proj.weight.t()


def test_bidirectional_mamba_equals_the_reference_in_both_directions():
    torch.manual_seed(0)
    block = BiMamba(16, d_state=16, d_conv=4, expand=4).double().eval()
    x = torch.randn(2, 37, 16, dtype=torch.float64)
    fwd, bwd = block.forward_blocks[0], block.backward_blocks[0]
    expected_forward = x + _reference_mamba(fwd.mixer, fwd.norm(x))
    xr = x.flip(1)
    expected_backward = (xr + _reference_mamba(bwd.mixer, bwd.norm(xr))).flip(1)
    with torch.no_grad():
        got = block(x)
    torch.testing.assert_close(got, torch.cat([expected_forward, expected_backward], dim=-1), rtol=1e-9, atol=1e-9)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_a_60_second_sequence_never_holds_the_whole_state():
    """The scan at the official d_inner 256 / d_state 16 over the 9,601 frames of 60 s: its
    whole-sequence state would be 315 MB; the scan's peak memory stays a small part of it."""
    batch, d_inner, d_state, frames = 2, 256, 16, 60 * 16000 // 100 + 1
    g = torch.Generator().manual_seed(0)
    u, delta, z = (torch.randn(batch, d_inner, frames, generator=g) for _ in range(3))
    B, C = (torch.randn(batch, d_state, frames, generator=g) for _ in range(2))
    A = -torch.arange(1.0, d_state + 1).repeat(d_inner, 1)
    whole_state_mb = batch * frames * d_inner * d_state * 4 / 2**20
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
        f.write("5")
    before = _rss_mb()
    with torch.inference_mode():
        y = selective_scan(
            u, delta, A, B, C, torch.ones(d_inner), z=z, delta_bias=torch.zeros(d_inner), delta_softplus=True
        )
    peak = _peak_rss_mb() - before
    assert y.shape == (batch, d_inner, frames) and torch.isfinite(y).all()
    assert whole_state_mb > 300 and peak < whole_state_mb / 4, (peak, whole_state_mb)


def test_a_60_second_input_runs_on_cpu_with_the_pytorch_scan():
    torch.manual_seed(0)
    model = use_backend(SEMamba(features=2, blocks=1), "torch").eval()  # official d_state 16, expand 4
    x = torch.randn(1, 1, 60 * 16000) * 0.05
    with torch.inference_mode():
        y = model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("length", [1601, 16000])
def test_waveform_contract_and_level(length):
    torch.manual_seed(0)
    model = SEMamba(features=8, blocks=1).eval()
    x = torch.randn(2, 1, length) * 0.1
    with torch.inference_mode():
        y, y_loud = model(x), model(256 * x)  # a power of two: the scaled input is exact
    assert y.shape == x.shape
    torch.testing.assert_close(y_loud, 256 * y)  # unit-RMS scaling undone at the output


def test_official_forward_shapes():
    model = SEMamba(features=8, blocks=1).eval()
    mag, pha, com = model.analysis(torch.randn(2, 3200))
    assert mag.shape == pha.shape == (2, 201, 33) and com.shape == (2, 201, 33, 2)
    with torch.inference_mode():
        out = model.enhance_spectra(mag, pha)
    assert [tuple(t.shape) for t in out] == [(2, 201, 33), (2, 201, 33), (2, 201, 33, 2)]
    assert (out[0] <= 2.0 * mag + 1e-6).all()  # mask bounded by beta = 2


def _pcs400_numpy(x: np.ndarray) -> np.ndarray:
    """The official pcs400.py framing written out: zero-pad 200 at the end, centred frames
    (zero padding) of a symmetric Hamming window, hop 100; exponents on log1p |X|; weighted
    overlap-add divided by the summed squared window; cut to length; peak-normalised."""
    n_fft, hop, length = 400, 100, len(x)
    window = np.hamming(n_fft)
    padded = np.pad(np.pad(x, (0, n_fft // 2)), n_fft // 2)
    frames = 1 + (len(padded) - n_fft) // hop
    exponents = np.ones(201)
    for start, stop, value in [
        (3, 5, 1.070175439),
        (5, 8, 1.182456140),
        (8, 10, 1.287719298),
        (10, 110, 1.4),
        (110, 130, 1.322807018),
        (130, 160, 1.238596491),
        (160, 190, 1.161403509),
        (190, 201, 1.077192982),
    ]:
        exponents[start:stop] = value
    out, envelope = np.zeros(len(padded)), np.zeros(len(padded))
    for i in range(frames):
        spec = np.fft.rfft(padded[i * hop : i * hop + n_fft] * window)
        spec = np.expm1(exponents * np.log1p(np.abs(spec))) * np.exp(1j * np.angle(spec))
        out[i * hop : i * hop + n_fft] += np.fft.irfft(spec, n_fft) * window
        envelope[i * hop : i * hop + n_fft] += window**2
    keep = slice(n_fft // 2, n_fft // 2 + length)
    out = out[keep] / envelope[keep]
    return out / np.abs(out).max()


def test_pcs400_on_a_known_input():
    exponents = pcs400_exponents()
    assert exponents[:3].tolist() == [1.0] * 3 and exponents[10].item() == pytest.approx(1.4)
    assert exponents[109].item() == pytest.approx(1.4) and exponents[110].item() == pytest.approx(1.322807018)
    assert exponents[200].item() == pytest.approx(1.077192982)
    rng = np.random.default_rng(0)
    t = np.arange(8123) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)
    y = pcs400(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, _pcs400_numpy(x), atol=1e-9)
    assert np.abs(y).max() == pytest.approx(1.0)
    items = torch.from_numpy(np.stack([x, 0.5 * x]))
    batched = pcs400(items)
    torch.testing.assert_close(batched[1], pcs400(items[1]))
    assert (batched[0] - batched[1]).abs().max() > 1e-3  # log1p makes it level-dependent
