"""On-the-fly mixing: crops, levels, SNR, dereverberation, RT60, determinism across workers."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from sepflow.audio.rir import early_part, main_tap, rt60
from sepflow.data.datasets.mixing import (
    MixingSegments,
    MixingValidation,
    RandomMixtureSampler,
    RirSampler,
    SignalSampler,
    mixer_from_manifests,
    mixing_data,
)
from sepflow.data.datasets.specs import MixingData
from sepflow.data.manifest import pool_manifest
from sepflow.data.segments import StepBatches
from sepflow.errors import SepflowError

SR = 16000


def write(path, audio):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, SR, subtype="FLOAT")
    return path, audio.size


def exponential_rir(rng, seconds: float, rt: float, delay: int = 40) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    h = rng.normal(size=t.size) * np.exp(-3 * np.log(10) * t / rt)
    h[:delay] = 0
    h[delay] = 4.0
    return (0.3 * h / np.abs(h).max()).astype(np.float32)


@pytest.fixture()
def pools(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    speech = [
        write(
            tmp_path / "audio/speech" / f"s{i}.wav",
            (0.1 * np.sin(2 * np.pi * (150 + 40 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32),
        )
        for i in range(4)
    ]
    noise = [
        write(tmp_path / "audio/noise" / f"n{i}.wav", (0.05 * rng.normal(size=2 * SR)).astype(np.float32))
        for i in range(3)
    ]
    rirs = [write(tmp_path / "audio/rirs" / f"r{i}.wav", exponential_rir(rng, 0.5, 0.3 + 0.2 * i)) for i in range(3)]
    return {"speech": speech, "noise": noise, "rirs": rirs, "root": tmp_path}


def test_crops_are_slices_and_short_files_concatenate(tmp_path):
    ramp = np.arange(1000, dtype=np.float32) / 1000
    sampler = SignalSampler([write(tmp_path / "long.wav", ramp)], crop=300)
    (crop,) = sampler.sample(np.random.default_rng(1))  # one channel
    start = int(round(crop[0] * 1000))
    np.testing.assert_array_equal(crop, ramp[start : start + 300])
    short = [write(tmp_path / f"short{i}.wav", np.full(120, 0.1 * (i + 1), np.float32)) for i in range(3)]
    (crop,) = SignalSampler(short, crop=300).sample(np.random.default_rng(2))
    assert crop.size == 300
    # two whole files, then a slice of a third: the value can change only at 120 and 240
    assert set(np.nonzero(np.diff(crop))[0]) <= {119, 239}
    assert set(np.unique(crop)) <= {np.float32(0.1 * (i + 1)) for i in range(3)}


def test_quiet_crops_are_rejected(tmp_path):
    loud = write(tmp_path / "loud.wav", np.full(4000, 0.1, np.float32))
    silent = write(tmp_path / "silent.wav", np.zeros(4000, np.float32))
    sampler = SignalSampler([silent, loud], crop=1000, min_rms_db=-50)
    for seed in range(10):
        assert np.all(sampler.sample(np.random.default_rng(seed), index=0) == np.float32(0.1))
    with pytest.raises(SepflowError, match="below -50"):
        SignalSampler([silent], crop=1000, min_rms_db=-50, name="noise").sample(np.random.default_rng(0))


def test_rt60_of_an_exponential_decay():
    rng = np.random.default_rng(3)
    for rt in (0.25, 0.5, 0.9):
        assert rt60(exponential_rir(rng, 1.5, rt), SR) == pytest.approx(rt, rel=0.05)


def test_early_part_keeps_20_ms_then_decays_60_db_per_300_ms():
    h = exponential_rir(np.random.default_rng(4), 1.0, 2.0)
    early = early_part(h, SR)
    tap, keep = main_tap(h), int(0.02 * SR)
    np.testing.assert_array_equal(early[: tap + keep], h[: tap + keep])
    k = tap + keep + int(0.3 * SR)
    assert early[k] / h[k] == pytest.approx(1e-3, rel=1e-3)


def mixer(pools, **options):
    crop = int(0.5 * SR)
    return RandomMixtureSampler(
        SignalSampler(pools["speech"], crop),
        SignalSampler(pools["noise"], crop),
        RirSampler(pools["rirs"]),
        SR,
        **options,
    )


def _residual_error(residual: np.ndarray, noise_files) -> float:
    """Relative error of the best fit of `residual` by a scaled slice of some noise file."""
    best = np.inf
    for path, _ in noise_files:
        noise = sf.read(str(path), dtype="float32")[0]
        corr = np.correlate(noise, residual, "valid")
        start = int(np.argmax(np.abs(corr)))
        piece = noise[start : start + residual.size]
        scale = piece @ residual / (piece @ piece)
        best = min(best, np.linalg.norm(residual - scale * piece) / np.linalg.norm(residual))
    return best


def test_without_dereverberation_mixture_minus_target_is_only_noise(pools):
    plain = mixer(pools, p_speech_rir=1.0, p_noise_rir=0.0, dereverb=False)
    partial = mixer(pools, p_speech_rir=1.0, p_noise_rir=0.0, dereverb=True)
    for seed in range(3):
        d = plain.draw(np.random.default_rng(seed))
        assert d.speech_rir and _residual_error((d.mixture - d.target)[0], pools["noise"]) < 1e-4
        d = partial.draw(np.random.default_rng(seed))  # the late reverberation is in the residual
        assert _residual_error((d.mixture - d.target)[0], pools["noise"]) > 0.05


def test_drawn_snr_and_levels_hold(pools):
    m = mixer(pools, p_speech_rir=0.5, p_noise_rir=0.5, snr_range=(-5.0, 15.0), gain_range=(-10.0, 3.0))
    seen_rir = set()
    for seed in range(12):
        d = m.draw(np.random.default_rng(seed))
        noise = d.mixture - d.target if not d.speech_rir else None
        level = 10 * np.log10(np.mean(d.target.astype(np.float64) ** 2))
        assert -5 <= d.snr_db <= 15 and -10 <= d.gain_db <= 3
        assert level == pytest.approx(-20 + d.gain_db, abs=1e-3)
        if noise is not None:
            noise_level = 10 * np.log10(np.mean(noise.astype(np.float64) ** 2))
            assert level - noise_level == pytest.approx(d.snr_db, abs=1e-3)
        seen_rir.add((d.speech_rir, d.noise_rir))
    assert len(seen_rir) >= 3


def _dataset(pools, seed=7):
    root = pools["root"]
    manifests = [pool_manifest(root / "audio" / name, root, "pools", name, SR) for name in ("speech", "noise", "rirs")]
    return MixingSegments(mixer_from_manifests(*([m] for m in manifests), segment_samples=SR // 4), seed)


def _run(dataset, batches, workers):
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers)
    return [mix.numpy() for mix, _ in loader]


def test_two_workers_never_yield_the_same_stream_and_match_one_process(pools):
    dataset = _dataset(pools)
    assert len(dataset) == 4 and dataset.sources == ("speech",)
    mix, targets = dataset[(0, 0)]
    assert mix.shape == (1, SR // 4) and targets.shape == (1, 1, SR // 4) and mix.dtype == torch.float32
    sampler = StepBatches(len(dataset), batch_size=2, seed=7)
    batches = [sampler.batch_at(step) for step in range(6)]
    two = _run(dataset, batches, workers=2)
    one = _run(dataset, batches, workers=0)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    rows = np.concatenate(two).reshape(12, -1)
    assert len({r.tobytes() for r in rows}) == 12


def test_resumed_run_sees_the_same_mixtures(pools):
    dataset = _dataset(pools)
    full = StepBatches(len(dataset), batch_size=2, seed=7)
    resumed = StepBatches(len(dataset), batch_size=2, seed=7, start_step=3)
    first = [full.batch_at(s) for s in range(5)][3:]
    again = [b for b, _ in zip(resumed, range(2))]
    assert first == again
    for a, b in zip(_run(dataset, first, 0), _run(_dataset(pools), again, 0)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(_dataset(pools, seed=8)[first[0][0]][0], dataset[first[0][0]][0])


def test_validation_set_is_fixed_by_seed(pools):
    valid = MixingValidation(_dataset(pools).mixer, seed=3, size=4)
    first = [valid[i][0].numpy() for i in range(4)]
    np.testing.assert_array_equal(first[2], valid[2][0].numpy())
    assert len({x.tobytes() for x in first}) == 4
    with pytest.raises(IndexError):
        valid[4]


def test_mixing_data_reads_pools_by_name_and_names_bad_keys(pools):
    root = pools["root"]

    def manifest(split):
        return pool_manifest(root / "audio" / split.split, root, split.dataset, split.split, SR)

    cfg = {
        "speech": "pools/speech",
        "noise": ["pools/noise"],
        "rirs": "pools/rirs",
        "snr_range": [5, 5],
        "valid_size": 3,
    }
    where = "experiments.x.data.mixing"
    data = mixing_data(MixingData.parse(cfg, where), manifest, 0.25, seed=1)
    assert len(data.train) == 4 and len(data.valid) == 3 and data.train.mixer.snr_range == (5, 5)
    assert (data.sources, data.channels, data.sample_rate, data.task) == (("speech",), 1, SR, "speech")
    assert data.train[(0, 0)][0].shape == (1, SR // 4)
    other = mixing_data(MixingData.parse({**cfg, "snr_range": [0, 5]}, where), manifest, 0.25, seed=1)
    assert other.fingerprint != data.fingerprint  # a change in the mixing restarts training
    with pytest.raises(SepflowError, match="experiments.x.data.mixing.snr: unknown key"):
        MixingData.parse({**cfg, "snr": 3}, where)
    with pytest.raises(SepflowError, match="no RIR pool"):
        MixingData.parse({"speech": "pools/speech", "noise": "pools/noise", "p_speech_rir": 0.5}, where)


def test_rt60_agrees_with_pyroomacoustics_on_a_simulated_room():
    import pyroomacoustics as pra

    dims = [6, 5, 3]
    absorption, max_order = pra.inverse_sabine(0.4, dims)
    room = pra.ShoeBox(dims, fs=SR, materials=pra.Material(absorption), max_order=max_order)
    room.add_source([2, 3, 1.5])
    room.add_microphone([4, 2, 1.2])
    room.compute_rir()
    h = room.rir[0][0]
    reference = pra.experimental.measure_rt60(h, fs=SR, decay_db=30)  # Schroeder integration
    assert rt60(h, SR) == pytest.approx(reference, rel=0.12)


@pytest.mark.parametrize("length,rir_length", [(80000, 8000), (5000, 8000), (20011, 3001), (100, 1)])
def test_block_convolution_equals_scipy(length, rir_length):
    from scipy.signal import fftconvolve

    from sepflow.data.datasets.mixing import _convolve

    rng = np.random.default_rng(length)
    x, h1, h2 = (rng.normal(size=(1, n)).astype(np.float32) for n in (length, rir_length, rir_length // 2 + 1))
    stereo, h3 = rng.normal(size=(2, length)).astype(np.float32), rng.normal(size=(2, rir_length)).astype(np.float32)
    ours = _convolve([x, stereo], [(0, h1), (0, h2), (1, h3), (1, h1)])
    for y, signal, h in zip(ours, (x, x, stereo, stereo), (h1, h2, h3, h1)):
        assert y.shape == signal.shape
        for channel in range(len(signal)):  # a one-channel RIR serves every channel
            reference = fftconvolve(signal[channel].astype(np.float64), h[channel % len(h)].astype(np.float64))
            np.testing.assert_allclose(y[channel], reference[:length], atol=1e-3 * np.abs(reference).max())


def test_stereo_pools_make_stereo_mixtures_with_a_room_per_channel_and_the_snr_over_both(tmp_path):
    """No mono assumption: two-channel speech and noise pools give (2, T) mixtures and
    (1, 2, T) targets; each channel's own RIR reverberates it, a one-channel RIR both; the
    SNR and levels hold over both channels."""
    rng = np.random.default_rng(5)
    t = np.arange(2 * SR) / SR
    tone = 0.1 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    speech = [
        write(tmp_path / f"speech/s{i}.wav", np.stack([tone, 0.5 * tone], 1).astype(np.float32)) for i in range(2)
    ]
    noise = [
        write(tmp_path / f"noise/n{i}.wav", (0.05 * rng.normal(size=(SR, 2))).astype(np.float32)) for i in range(2)
    ]
    left, right = exponential_rir(rng, 0.3, 0.3), exponential_rir(rng, 0.3, 0.6)
    stereo_rir = [write(tmp_path / "r.wav", np.stack([left, right], 1))]
    crop = SR // 2
    mixer = RandomMixtureSampler(
        SignalSampler(speech, crop),
        SignalSampler(noise, crop),
        RirSampler(stereo_rir),
        SR,
        p_speech_rir=1.0,
        p_noise_rir=0.0,
        dereverb=False,
        snr_range=(5.0, 5.0),
        gain_range=(0.0, 0.0),
    )
    d = mixer.draw(np.random.default_rng(1))
    assert d.mixture.shape == d.target.shape == (2, crop)
    noise_part = (d.mixture - d.target).astype(np.float64)
    snr = 10 * np.log10(np.sum(d.target.astype(np.float64) ** 2) / np.sum(noise_part**2))
    assert snr == pytest.approx(5.0, abs=1e-3)
    # the dry channels differ only by a factor 2; reverberated by different rooms they do not
    assert np.abs(d.target[0] - 2 * d.target[1]).max() > 0.1 * np.abs(d.target[0]).max()
    mono_room = RandomMixtureSampler(
        SignalSampler(speech, crop),
        SignalSampler(noise, crop),
        RirSampler([write(tmp_path / "m.wav", left)]),
        SR,
        p_speech_rir=1.0,
        p_noise_rir=0.0,
        dereverb=True,
    )
    d = mono_room.draw(np.random.default_rng(1))
    np.testing.assert_allclose(d.target[0], 2 * d.target[1], atol=1e-6)  # one room: the factor 2 stays

    speech, noise = ([pool_manifest(tmp_path / role, tmp_path, "pools", role, SR)] for role in ("speech", "noise"))
    segments = MixingSegments(mixer_from_manifests(speech, noise, [], SR // 4, p_speech_rir=0, p_noise_rir=0), 0)
    mix, targets = segments[(0, 0)]
    assert segments.channels == 2 and mix.shape == (2, SR // 4) and targets.shape == (1, 2, SR // 4)


def test_pools_of_other_channel_counts_are_named(tmp_path):
    mono = [write(tmp_path / "mono.wav", np.full(SR, 0.1, np.float32))]
    stereo = [write(tmp_path / "stereo.wav", np.full((SR, 2), 0.1, np.float32))]
    with pytest.raises(SepflowError, match=r"speech pool has 2 channel\(s\), the noise pool 1; mix pools of one"):
        RandomMixtureSampler(SignalSampler(stereo, 100), SignalSampler(mono, 100), None, SR, 0.0, 0.0)
    with pytest.raises(SepflowError, match=r"speech pool has 1 channel\(s\), the noise pool 1, the RIR pool 2"):
        RandomMixtureSampler(SignalSampler(mono, 100), SignalSampler(mono, 100), RirSampler(stereo), SR)
    mixed = SignalSampler([*mono, *stereo], 100, name="noise")
    with pytest.raises(SepflowError, match=r"stereo\.wav has 2 channel\(s\) but the noise pool's first file has 1"):
        for seed in range(20):
            mixed.sample(np.random.default_rng(seed))
