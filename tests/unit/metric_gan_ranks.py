"""One metric-GAN step (sepflow.train.gan) on a global batch of 4, as one process or as a
rank of several (each on its share); rank 0 saves both networks' gradients to argv[1].
Run by test_distributed.py, directly and through `accelerate launch`."""

import sys
from types import SimpleNamespace

import numpy as np
import torch
from accelerate import Accelerator

from sepflow.models.semamba import SEMamba
from sepflow.train.gan import MetricGANStep

torch.set_num_threads(1)
accelerator = Accelerator(cpu=True)
torch.manual_seed(0)
model = accelerator.prepare(SEMamba(features=2, blocks=1))  # as the training loop prepares it
recipe = SimpleNamespace(lr=5e-4, betas=(0.8, 0.99), weight_decay=0.01, clip_grad=0.0)
step = MetricGANStep(model, None, recipe, accelerator, 16000, epoch_steps=2)
discriminator = accelerator.unwrap_model(step.discriminator)
for layer in discriminator.modules():  # dropout draws depend on how the batch is split
    if isinstance(layer, torch.nn.Dropout):
        layer.p = 0.0

rng = np.random.default_rng(1)
t = np.arange(8000) / 16000
clean = np.stack(
    [
        0.1
        * sum(np.sin(2 * np.pi * k * rng.uniform(100, 200) * t) / k for k in range(1, 10))
        * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
        for _ in range(4)
    ]
).astype(np.float32)
noisy = clean + 0.05 * rng.standard_normal(clean.shape).astype(np.float32)
per = 4 // accelerator.num_processes
mine = slice(accelerator.process_index * per, (accelerator.process_index + 1) * per)
step(torch.from_numpy(noisy[mine]).unsqueeze(1), torch.from_numpy(clean[mine])[:, None, None])
if accelerator.is_main_process:
    torch.save(
        {
            name: {k: p.grad for k, p in net.named_parameters()}
            for name, net in (("generator", accelerator.unwrap_model(model)), ("discriminator", discriminator))
        },
        sys.argv[1],
    )
