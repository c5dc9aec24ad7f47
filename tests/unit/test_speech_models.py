"""Speech models: pinned parameter counts, same-length output, and a loss that training lowers."""

from __future__ import annotations

import json
import math

import pytest
import torch

from sepflow.losses import build_loss
from sepflow.models import build_model, count_parameters

# (model, constructor arguments, parameter count): each model's reference/default config.
PINNED = [
    ("spec_unet", {}, 1_927_841),  # 32 base filters, depth 3: the "~1.9 M" of the source documents
    ("waveunet", {}, 10_263_002),  # Macartney & Weyde: 12 layers, 24 extra filters per layer
    ("waveunet", {"layers": 4, "extra_filters": 8}, 61_130),  # the small demo config used below
    ("gatewave", {}, 705_793),
]

# (model, small constructor arguments, the loss of its training recipe)
RECIPES = [
    ("spec_unet", {"base_filters": 8}, "magnitude_mse"),
    ("waveunet", {"layers": 4, "extra_filters": 8}, "l1_mrstft"),
    ("gatewave", {}, "l1_mrstft"),
]


def noisy_batch(length: int = 8000, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed harmonic 'voiced' tones plus white noise at about 10 dB SNR."""
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(length) / 16000
    f0 = 120 + 100 * torch.rand(batch, 1, 1, generator=gen)
    clean = sum(0.1 / k * torch.sin(2 * math.pi * k * f0 * t) for k in range(1, 6))
    noise = 0.03 * torch.randn(batch, 1, length, generator=gen)
    return clean + noise, clean


@pytest.mark.parametrize("name,args,count", PINNED)
def test_parameter_count_is_pinned(name, args, count):
    assert count_parameters(build_model(name, **args)) == count


@pytest.mark.parametrize("name", ["spec_unet", "waveunet", "gatewave"])
@pytest.mark.parametrize("length", [16000, 12345, 4097, 1001, 333])
def test_output_has_the_input_length(name, length):
    model = build_model(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, length)).shape == (1, 1, length)
        assert model(torch.randn(2, length)).shape == (2, 1, length)


@pytest.mark.parametrize("name,args,_", RECIPES)
def test_checkpoint_arguments_rebuild_the_same_model(name, args, _):
    """The constructor arguments survive JSON and, with the state dict, give the same output."""
    torch.manual_seed(0)
    model = build_model(name, sample_rate=16000, **args).eval()
    rebuilt = build_model(name, **json.loads(json.dumps({"sample_rate": 16000, **args}))).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(1, 1, 3000)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


@pytest.mark.parametrize("name,args,loss_name", RECIPES)
def test_a_few_adam_steps_lower_the_recipe_loss(name, args, loss_name):
    torch.manual_seed(0)
    model = build_model(name, **args)
    loss_fn = build_loss(loss_name, sample_rate=16000)
    noisy, clean = noisy_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = loss_fn(model(noisy), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(math.isfinite(value) for value in losses)
    # Batch norm and dropout make single steps noisy: compare the last few with the first.
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0], losses
