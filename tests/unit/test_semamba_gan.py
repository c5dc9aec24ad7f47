"""SEMamba's metric-GAN training: the loss terms against their official definitions, PESQ in
a batch that fails, and a few CPU steps that update both networks and resume bit-exactly."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from sepflow.losses.semamba import WEIGHTS, SEMambaGeneratorLoss, anti_wrap, batch_pesq, phase_losses
from sepflow.losses.stoi import STOILoss
from sepflow.models.semamba import SEMamba
from sepflow.train.gan import MetricGANStep
from sepflow.train.steps import STEPS

SR = 16000


def test_official_weights():
    assert WEIGHTS == {"metric": 0.05, "magnitude": 0.9, "phase": 0.3, "complex": 0.1, "time": 0.2, "consistency": 0.1}


def test_phase_losses_equal_the_official_difference_matrices():
    g = torch.Generator().manual_seed(0)
    ref, est = (torch.rand(2, 201, 13, generator=g) * 20 - 10 for _ in range(2))
    n_freq, n_time = ref.shape[1], ref.shape[2]

    def matrix(n):  # the official construction: +1 above the diagonal, -1 on it
        return torch.triu(torch.ones(n, n), 1) - torch.triu(torch.ones(n, n), 2) - torch.eye(n)

    gd_r, gd_e = ref.transpose(1, 2) @ matrix(n_freq), est.transpose(1, 2) @ matrix(n_freq)
    iaf_r, iaf_e = ref @ matrix(n_time), est @ matrix(n_time)
    expected = (anti_wrap(ref - est).mean(), anti_wrap(gd_r - gd_e).mean(), anti_wrap(iaf_r - iaf_e).mean())
    for got, want in zip(phase_losses(ref, est), expected):
        torch.testing.assert_close(got, want)
    assert anti_wrap(torch.tensor(2 * math.pi + 0.25)).item() == pytest.approx(0.25, abs=1e-6)


def _speechlike(rng: np.random.Generator, n: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for _ in range(n):
        f0 = rng.uniform(100, 200)
        voiced = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 10))
        out.append(0.1 * voiced * np.clip(np.sin(2 * np.pi * 3 * t), 0, None))
    return np.stack(out).astype(np.float32)


def test_batch_pesq_normalises_and_skips_a_failing_batch():
    rng = np.random.default_rng(0)
    clean = torch.from_numpy(_speechlike(rng, 2))
    noisy = clean + 0.01 * torch.randn_like(clean)
    scores = batch_pesq(clean, noisy, SR, workers=2)
    assert scores.shape == (2,) and ((scores > 0) & (scores <= 1)).all()
    silent = clean.clone()
    silent[1] = 0.0  # PESQ finds no utterance in silence
    assert batch_pesq(silent, noisy, SR, workers=2) is None


def _recipe(**kw):
    base = dict(lr=5e-4, betas=(0.8, 0.99), weight_decay=0.01, clip_grad=0.0)
    return SimpleNamespace(**{**base, **kw})


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    model = SEMamba(features=2, blocks=1)
    step = MetricGANStep(model, None, _recipe(), Accelerator(cpu=True), SR, epoch_steps=2)
    return model, step


def _batches(n: int):
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        clean = torch.from_numpy(_speechlike(rng, 2, 0.5))
        noisy = clean + 0.05 * torch.from_numpy(rng.standard_normal(clean.shape).astype(np.float32))
        if i == 1:
            clean[0] = 0.0  # a batch whose PESQ fails: the discriminator's PESQ term is skipped
        out.append((noisy.unsqueeze(1), clean[:, None, None]))
    return out


def test_gan_steps_update_both_networks_and_resume_bit_exactly(tmp_path):
    assert STEPS["metric_gan"] == f"{MetricGANStep.__module__}:{MetricGANStep.__name__}"
    batches = _batches(4)

    model, step = _setup()
    g0 = {k: v.clone() for k, v in model.state_dict().items()}
    d0 = {k: v.clone() for k, v in step.discriminator.state_dict().items()}
    logs = [step(*b) for b in batches]
    assert list(logs[0])[0] == "loss" and math.isnan(logs[1]["pesq"]) and not math.isnan(logs[0]["pesq"])
    assert all(math.isfinite(log["loss"]) and math.isfinite(log["discriminator"]) for log in logs)
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in g0.items())
    assert any(not torch.equal(v, step.discriminator.state_dict()[k]) for k, v in d0.items())
    assert step.lr == pytest.approx(5e-4 * 0.99**2)  # 4 steps, an "epoch" of 2
    straight = model.state_dict()

    model, step = _setup()
    for b in batches[:2]:
        step(*b)
    torch.save(
        {"model": model.state_dict(), "step": step.state_dict(), "rng": torch.get_rng_state()}, tmp_path / "s.pt"
    )
    del model, step
    model, step = _setup(seed=123)  # fresh objects, different initial weights
    saved = torch.load(tmp_path / "s.pt", weights_only=True)
    model.load_state_dict(saved["model"])
    step.load_state_dict(saved["step"])
    torch.set_rng_state(saved["rng"])
    for b in batches[2:]:
        step(*b)
    resumed = model.state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert step.lr == pytest.approx(5e-4 * 0.99**2)


def test_the_stoi_term_is_off_by_default_and_adds_its_weight_times_one_minus_stoi():
    g = torch.Generator().manual_seed(0)
    clean, enhanced = (
        {
            "mag": torch.rand(2, 201, 101, generator=g),
            "pha": torch.rand(2, 201, 101, generator=g),
            "com": torch.rand(2, 201, 101, 2, generator=g),
            "audio": torch.randn(2, SR, generator=g),
        }
        for _ in range(2)
    )
    reanalysed, score = torch.rand(2, 201, 101, 2, generator=g), torch.rand(2, 1, generator=g)
    official, terms = SEMambaGeneratorLoss()(clean, enhanced, reanalysed, score)
    assert "stoi" not in terms
    total, terms = SEMambaGeneratorLoss({"stoi": 0.4}, SR)(clean, enhanced, reanalysed, score)
    expected = STOILoss(SR)(enhanced["audio"][:, None], clean["audio"][:, None])
    torch.testing.assert_close(terms["stoi"], expected)
    torch.testing.assert_close(total, official + 0.4 * expected)


def test_a_stereo_item_trains_and_validates_as_its_channels_would_as_items():
    """No mono assumption: each channel of a multi-channel item is enhanced, scored by PESQ
    and learnt from as an item of its own, so one stereo item trains exactly like its two
    channels as two mono items."""
    noisy, clean = _batches(1)[0]  # (2, 1, T), (2, 1, 1, T): two mono items
    stereo, stereo_clean = noisy.reshape(1, 2, -1), clean.reshape(1, 1, 2, -1)  # one item, two channels
    runs = []
    for batch in ((stereo, stereo_clean), (noisy, clean)):
        model, step = _setup()
        runs.append((step(*batch), model.state_dict(), step.discriminator.state_dict()))
    (terms_a, generator_a, discriminator_a), (terms_b, generator_b, discriminator_b) = runs
    assert terms_a == terms_b
    assert all(torch.equal(generator_a[k], generator_b[k]) for k in generator_a)
    assert all(torch.equal(discriminator_a[k], discriminator_b[k]) for k in discriminator_a)

    model.eval()
    with torch.no_grad():
        estimate = step.estimate(model, stereo, 1)
        assert estimate.shape == (1, 1, 2, stereo.shape[-1])
        for channel in range(2):
            torch.testing.assert_close(estimate[0, 0, channel], model(stereo[:, channel : channel + 1])[0, 0])
        per_channel = [step.score(estimate[:, :, c : c + 1], stereo_clean[:, :, c : c + 1]) for c in range(2)]
    assert step.score(estimate, stereo_clean) == pytest.approx(np.mean(per_channel))
    assert step.criterion.column == "valid_pesq" and step.criterion.higher_is_better
