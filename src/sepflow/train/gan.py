"""The metric-GAN training step of SEMamba (and MP-SENet-style models).

One call is one official SEMamba iteration on a batch: scale each item to unit RMS (the
mixture's factor, applied to both), analyse, enhance, compute normalised PESQ of the
estimates in parallel, update the metric discriminator (reference pair -> 1, enhanced pair ->
its PESQ; that term skipped when PESQ fails), then update the generator with the weighted
losses of `sepflow.losses.semamba`. Both optimisers are AdamW; both learning rates decay by
`lr_decay` every `epoch_steps` steps (the official recipe decays once per epoch; 2,893 steps
is one VoiceBank+DEMAND epoch at batch 4).

The model must offer SEMamba's `analysis`, `enhance_spectra` and `synthesis`. Training runs
in float32 (no autocast): PESQ, the STFT round trip and the phase terms want full precision.

The generator enhances one channel of one source: the data must have one source (speech) at
16 kHz (wide-band PESQ), and each channel of a multi-channel item is enhanced, scored and
learnt from as an item of its own. Validation scores what the step optimises: the wide-band
PESQ of the model's estimate of each whole validation item (`valid_pesq`, the mean over its
channels; higher is better), not the recipe's `loss`, which this step does not use.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sepflow.audio.pcs import pcs400
from sepflow.device import average_gradients
from sepflow.errors import SepflowError
from sepflow.losses.semamba import SEMambaGeneratorLoss, batch_pesq
from sepflow.metrics.speech import Unmeasurable, pesq
from sepflow.models.metric_discriminator import MetricDiscriminator
from sepflow.train.steps import Criterion, whole_estimate

CONSISTENCY_EPS = 1e-10  # the official re-analysis of the estimate: sqrt(re^2 + im^2 + eps)
PESQ_SAMPLE_RATE = 16000  # the discriminator learns wide-band PESQ, computed at this rate
VALID_PESQ = Criterion("valid_pesq", "valid PESQ", higher_is_better=True, nan_is_divergence=False)


def channel_pesq(estimate: torch.Tensor, targets: torch.Tensor, sample_rate: int) -> float:
    """Wide-band PESQ of one item's estimate, (1, 1, channels, time), against its targets:
    the mean over channels, NaN when PESQ cannot score a channel (e.g. a silent estimate)."""
    scores = []
    for est, ref in zip(estimate[0, 0].cpu().numpy(), targets[0, 0].float().cpu().numpy()):
        try:
            scores.append(pesq(ref, est, sample_rate, "wb"))
        except Unmeasurable:
            return math.nan
    return float(np.mean(scores))


class MetricGANStep:
    criterion = VALID_PESQ

    def __init__(
        self,
        model,
        loss_fn,
        recipe,
        accelerator,
        sample_rate,
        *,
        epoch_steps: int = 2893,
        lr_decay: float = 0.99,
        weights: dict | None = None,
        pesq_workers: int = 1,
        pcs_target: bool = False,
        discriminator_dim: int = 16,
    ):
        """`loss_fn` is unused: the objective is SEMamba's, weighted by `weights`."""
        if epoch_steps < 1:
            raise ValueError(f"epoch_steps must be at least 1, got {epoch_steps}")
        self.model, self.recipe, self.accelerator = model, recipe, accelerator
        self.sample_rate, self.epoch_steps, self.pesq_workers = sample_rate, epoch_steps, pesq_workers
        self.pcs_target = pcs_target
        self.loss = SEMambaGeneratorLoss(weights, sample_rate).to(accelerator.device)
        discriminator = MetricDiscriminator(discriminator_dim)
        opt_g = torch.optim.AdamW(
            model.parameters(), lr=recipe.lr, betas=tuple(recipe.betas), weight_decay=recipe.weight_decay
        )
        opt_d = torch.optim.AdamW(
            discriminator.parameters(), lr=recipe.lr, betas=tuple(recipe.betas), weight_decay=recipe.weight_decay
        )
        self.discriminator, self.opt_g, self.opt_d = accelerator.prepare(discriminator, opt_g, opt_d)
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=lr_decay)
        self.sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=lr_decay)
        self.steps = 0

    @classmethod
    def check(cls, sources: tuple[str, ...], channels: int | None, sample_rate: int, where: str) -> None:
        """One source at 16 kHz; any number of channels (each enhanced on its own)."""
        if len(sources) != 1:
            raise SepflowError(
                f"{where}: metric_gan enhances one source, but the data has {list(sources)}; "
                "train it on a split with one source (paired speech) or use the supervised step."
            )
        if sample_rate != PESQ_SAMPLE_RATE:
            raise SepflowError(
                f"{where}: metric_gan learns wide-band PESQ, which needs {PESQ_SAMPLE_RATE} Hz audio, "
                f"but the data is {sample_rate} Hz; prepare the dataset at sample_rate: {PESQ_SAMPLE_RATE}."
            )

    @property
    def lr(self) -> float:
        return self.opt_g.param_groups[0]["lr"]

    def _spectra(self, generator, wave: torch.Tensor) -> dict:
        mag, pha, com = generator.analysis(wave)
        return {"mag": mag, "pha": pha, "com": com, "audio": wave}

    def __call__(self, mixture: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        generator = self.accelerator.unwrap_model(self.model)
        generator.train()
        self.discriminator.train()
        heard, reference = mixture.flatten(0, 1), targets[:, 0].flatten(0, 1)  # each channel an item
        if self.pcs_target:
            reference = pcs400(reference)
        gain = generator.unit_rms_gain(heard[:, None])[:, 0]
        heard, reference = heard * gain, reference * gain
        heard_mag, heard_pha, _ = generator.analysis(heard)
        target = self._spectra(generator, reference)
        mag, pha, com = generator.enhance_spectra(heard_mag, heard_pha)
        audio = generator.synthesis(mag, pha, heard.shape[-1])
        enhanced = {"mag": mag, "pha": pha, "com": com, "audio": audio}
        scores = batch_pesq(reference, audio, self.sample_rate, self.pesq_workers)

        self.opt_d.zero_grad(set_to_none=True)
        metric_reference = self.discriminator(target["mag"], target["mag"]).flatten()
        loss_d = F.mse_loss(metric_reference, torch.ones_like(metric_reference))
        if scores is not None:
            metric_enhanced = self.discriminator(target["mag"], mag.detach()).flatten()
            loss_d = loss_d + F.mse_loss(metric_enhanced, scores.to(metric_enhanced.device))
        self.accelerator.backward(loss_d)
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        _, _, reanalysed = generator.analysis(audio, eps=CONSISTENCY_EPS)
        loss_g, terms = self.loss(target, enhanced, reanalysed, self.discriminator(target["mag"], mag))
        if not torch.isfinite(loss_g):
            raise FloatingPointError(f"SEMamba generator loss is {loss_g.item()} at step {self.steps}")
        self.accelerator.backward(loss_g)
        average_gradients(
            generator, self.accelerator
        )  # DDP does not see this backward: the generator's methods ran unwrapped
        if self.recipe.clip_grad > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.recipe.clip_grad)
        self.opt_g.step()

        self.steps += 1
        if self.steps % self.epoch_steps == 0:
            self.sched_g.step()
            self.sched_d.step()
        return {
            "loss": loss_g.item(),
            "discriminator": loss_d.item(),
            "pesq": float("nan") if scores is None else scores.mean().item() * 3.5 + 1.0,
            **{name: value.item() for name, value in terms.items()},
        }

    def estimate(self, model, mixture: torch.Tensor, sources: int) -> torch.Tensor:
        """Each channel enhanced as an item of its own: (1, channels, time) -> (1, 1, channels, time)."""
        return whole_estimate(model, mixture.transpose(0, 1), sources).transpose(0, 2)

    def score(self, estimate: torch.Tensor, targets: torch.Tensor) -> float:
        return channel_pesq(estimate, targets, self.sample_rate)

    def end_validation(self, value: float) -> None:
        """The learning rates follow the step count, not validation."""

    def state_dict(self) -> dict:
        return {
            "steps": self.steps,
            "discriminator": self.accelerator.unwrap_model(self.discriminator).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.steps = state["steps"]
        self.accelerator.unwrap_model(self.discriminator).load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
