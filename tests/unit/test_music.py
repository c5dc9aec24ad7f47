"""Music separation: the demo corpus through musdb, unet1d, museval metrics, baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

musdb = pytest.importorskip("musdb", reason="musdb needs ffmpeg on PATH")

from sepflow.data.manifest import MUSIC_SOURCES  # noqa: E402
from sepflow.demo.music import MUSIC_SAMPLE_RATE, synthesize_music  # noqa: E402
from sepflow.infer.separation_baselines import mixture_baseline, oracle_irm  # noqa: E402
from sepflow.metrics.music import median_over_tracks, music_metrics  # noqa: E402
from sepflow.models import build_model, count_parameters  # noqa: E402

SR = MUSIC_SAMPLE_RATE
SECONDS = 1.0  # one museval frame: BSSEval v4 solves a 4096-wide system per track


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    synthesize_music(root, n_train=1, n_test=1, seed=3, seconds=SECONDS)
    return root


@pytest.fixture(scope="module")
def track(corpus):
    return musdb.DB(root=str(corpus), is_wav=True, subsets="test")[0]


def as_stems(track) -> np.ndarray:
    return np.stack([track.targets[n].audio.T for n in MUSIC_SOURCES]).astype(np.float32)


def score(track, estimates: np.ndarray) -> dict[str, dict]:
    refs = {n: track.targets[n].audio for n in MUSIC_SOURCES}
    rows = music_metrics(refs, {n: estimates[j].T for j, n in enumerate(MUSIC_SOURCES)}, track.rate)
    return {row["source"]: row for row in rows}


@pytest.fixture(scope="module")
def scores(track):
    """museval is slow: each estimate of the test track is scored once for all tests."""
    mixture, stems = track.audio.T, as_stems(track)
    estimates = {"mixture": mixture_baseline(mixture, 4), "oracle": oracle_irm(mixture, stems)}
    return {name: score(track, est) for name, est in estimates.items()}


def test_musdb_reads_the_demo_corpus(corpus):
    for subset, name in (("train", "synth_train_00"), ("test", "synth_test_00")):
        (track,) = musdb.DB(root=str(corpus), is_wav=True, subsets=subset)
        assert track.name == name and track.rate == SR
        assert track.audio.shape == (int(SECONDS * SR), 2)
        stems = sum(track.targets[n].audio for n in ("vocals", "drums", "bass", "other"))
        np.testing.assert_allclose(stems, track.audio, atol=3 / 32768)  # PCM16 rounding of 5 files
        assert all(np.std(track.targets[n].audio) > 1e-3 for n in MUSIC_SOURCES)


@pytest.mark.parametrize("length", [1, 3, 4097, SR + 1])
@pytest.mark.parametrize(("model_channels", "in_channels"), [(1, 1), (1, 2), (2, 2)])
def test_unet1d_keeps_length_and_channels(length, model_channels, in_channels):
    model = build_model("unet1d", channels=model_channels)
    out = model(torch.randn(2, in_channels, length))
    assert out.shape == (2, 4, in_channels, length)


def test_unet1d_parameter_counts():
    assert count_parameters(build_model("unet1d")) == 1_526_688
    assert count_parameters(build_model("unet1d", channels=2)) == 1_600_672
    assert count_parameters(build_model("unet1d", sources=("speech",), basis=32)) == 1_493_696


def test_mono_unet1d_applies_one_mask_to_every_channel():
    model = build_model("unet1d")
    left = torch.randn(1, 1, 5000)
    out = model(torch.cat([left, -0.5 * left], dim=1))
    torch.testing.assert_close(out[:, :, 1], -0.5 * out[:, :, 0])


def test_stereo_unet1d_refuses_mono_input():
    with pytest.raises(ValueError, match="stereo input"):
        build_model("unet1d", channels=2)(torch.randn(1, 1, 100))


def test_perfect_estimate_scores_far_above_a_noisy_one(track):
    names = ("vocals", "drums")  # two stems keep museval quick
    refs = {n: track.targets[n].audio for n in names}
    noise = np.random.default_rng(0).normal(0, 0.01, refs["vocals"].shape)
    perfect = {r["source"]: r for r in music_metrics(refs, refs, track.rate)}
    degraded = {r["source"]: r for r in music_metrics(refs, {n: a + noise for n, a in refs.items()}, track.rate)}
    for name in names:
        assert perfect[name]["sdr"] > degraded[name]["sdr"] + 30
        assert perfect[name]["si_sdr"] > degraded[name]["si_sdr"] + 30


def test_mixture_sdr_equals_museval_track_evaluation(track, scores):
    import museval

    ours = scores["mixture"]
    store = museval.eval_mus_track(track, {n: track.audio for n in MUSIC_SOURCES})
    frames = store.df
    for name in MUSIC_SOURCES:
        for metric in ("SDR", "SIR", "SAR", "ISR"):
            values = frames[(frames.target == name) & (frames.metric == metric)].score
            assert values.size == SECONDS  # one score per 1 s frame
            assert ours[name][metric.lower()] == pytest.approx(values.median(), abs=1e-5)  # museval stores 5 decimals


def test_a_silent_estimate_scores_nan_not_a_stand_in(track):
    estimates = as_stems(track).copy()
    estimates[0] = 0.0
    rows = score(track, estimates)
    assert all(math.isnan(rows[name][key]) for name in MUSIC_SOURCES for key in ("sdr", "sir", "sar", "isr"))
    assert math.isnan(rows["vocals"]["si_sdr"]) and rows["drums"]["si_sdr"] > 60
    assert "sdr: museval scores no track with a digitally silent stem (estimate of vocals)" in rows["drums"]["reasons"]
    assert rows["vocals"]["reasons"].endswith("si_sdr: the estimate is digitally silent")


def test_a_30_ms_late_stem_is_flagged_with_its_lag_and_the_others_keep_their_scores(track, scores):
    mixture, stems = track.audio.T, as_stems(track)
    estimates = oracle_irm(mixture, stems)
    late = round(0.03 * SR)
    estimates[0, :, late:] = estimates[0, :, :-late].copy()
    estimates[0, :, :late] = 0.0
    rows = score(track, estimates)
    reason = "the estimate is 1323 samples late (30.0 ms)"
    assert all(math.isnan(rows["vocals"][key]) for key in ("sdr", "sir", "sar", "isr", "si_sdr"))
    assert rows["vocals"]["reasons"] == "; ".join(f"{key}: {reason}" for key in ("sdr", "sir", "sar", "isr", "si_sdr"))
    for name in MUSIC_SOURCES[1:]:  # each estimate is projected on the references alone
        assert rows[name]["reasons"] == ""
        assert rows[name]["sdr"] == pytest.approx(scores["oracle"][name]["sdr"], abs=1e-9)
    assert all(row["reasons"] == "" for row in scores["oracle"].values())  # the aligned oracle is not flagged


def test_oracle_irm_keeps_the_shape_and_sums_to_the_mixture(track):
    mixture, stems = track.audio.T, as_stems(track)
    oracle = oracle_irm(mixture, stems)
    assert oracle.shape == stems.shape
    np.testing.assert_allclose(oracle.sum(axis=0), mixture, atol=1e-5)


def test_oracle_beats_the_mixture(scores):
    floor, ceiling = scores["mixture"], scores["oracle"]
    for name in MUSIC_SOURCES:
        assert ceiling[name]["sdr"] > floor[name]["sdr"] + 5


def test_median_over_tracks_is_the_median_of_track_medians():
    rows = [
        {"track": t, "source": s, "sdr": v, "sir": v, "sar": v, "isr": v, "si_sdr": v}
        for t, v in enumerate([1.0, 5.0, 2.0])
        for s in ("vocals", "bass")
    ]
    rows.append({"track": 3, "source": "vocals", "sdr": float("nan"), "sir": 0, "sar": 0, "isr": 0, "si_sdr": 0})
    summary = {row["source"]: row for row in median_over_tracks(rows)}
    assert summary["bass"]["sdr"] == 2.0 and summary["bass"]["tracks"] == 3
    assert summary["vocals"]["sdr"] == 2.0 and summary["vocals"]["si_sdr"] == 1.5


def test_adamw_l1_steps_lower_the_loss_on_a_fixed_batch(track):
    torch.manual_seed(0)
    stems = torch.from_numpy(as_stems(track)[..., : SR // 2].copy())[None]
    mixture = stems.sum(dim=1)
    model = build_model("unet1d", basis=16, hidden=8, depth=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.l1_loss(model(mixture), stems)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]
