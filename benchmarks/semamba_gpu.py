"""SEMamba on CUDA: mamba_ssm's kernel against the pure-PyTorch scan on the same weights
(outputs and gradients), inference real-time factor and training steps per second of both.

    python benchmarks/semamba_gpu.py [train]     # needs CUDA, mamba-ssm (sepflow[mamba]) and pesq

"train" skips the equality and inference parts.
"""

import sys
import time
from types import SimpleNamespace

import numpy as np
import torch
from accelerate import Accelerator
from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

from sepflow.models.mamba import mamba_ssm_available, selective_scan, use_backend
from sepflow.models.semamba import SEMamba
from sepflow.train.gan import MetricGANStep

dev = "cuda"
print(
    "torch", torch.__version__, torch.cuda.get_device_name(), "mamba_ssm available:", mamba_ssm_available(), flush=True
)


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


TRAIN_ONLY = sys.argv[1:] == ["train"]
# 1. the scan alone, forward and gradients, SEMamba's time-axis shape (400 sequences x 321 frames)
if not TRAIN_ONLY:
    g = torch.Generator(device=dev).manual_seed(0)
    b, d, n, L = 400, 256, 16, 321

    def mk(*shape):
        return torch.randn(*shape, device=dev, generator=g).requires_grad_()

    u, delta, z, B, C = mk(b, d, L), mk(b, d, L), mk(b, d, L), mk(b, n, L), mk(b, n, L)
    A = (-torch.arange(1.0, n + 1, device=dev).repeat(d, 1)).requires_grad_()
    D, bias = mk(d), mk(d)
    outs = {}
    for name, fn in (("mamba_ssm", selective_scan_fn), ("torch", selective_scan)):
        y = fn(u, delta, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True)
        grads = torch.autograd.grad(y.square().mean(), (u, delta, A, B, C, D, z, bias))
        outs[name] = (y.detach(), grads)
    print(
        "scan forward: max abs diff {:.3e}, rel {:.3e}".format(
            (outs["torch"][0] - outs["mamba_ssm"][0]).abs().max().item(), rel(outs["torch"][0], outs["mamba_ssm"][0])
        )
    )
    for nm, ga, gb in zip("u delta A B C D z delta_bias".split(), outs["torch"][1], outs["mamba_ssm"][1]):
        print(f"  grad {nm}: rel diff {rel(ga, gb):.3e}")

    # 2. the official model, same weights, both backends
    torch.manual_seed(0)
    model = SEMamba().to(dev).eval()
    x = 0.1 * torch.randn(4, 1, 32000, device=dev)
    res = {}
    with torch.no_grad():
        for be in ("mamba_ssm", "torch"):
            use_backend(model, be)
            gain = model.unit_rms_gain(x)
            mag, pha, _ = model.analysis(x[:, 0] * gain[:, 0])
            res[be] = (model.enhance_spectra(mag, pha), model(x))
    (ma, pa, ca), wa = res["torch"]
    (mb, pb, cb), wb = res["mamba_ssm"]
    print(
        f"model: magnitude rel diff {rel(ma, mb):.3e}, complex rel diff {rel(ca, cb):.3e}, waveform rel diff {rel(wa, wb):.3e}, phase max wrapped diff {torch.remainder(pa - pb + np.pi, 2 * np.pi).sub(np.pi).abs().max().item():.3e}"
    )

    # 3. inference on 10 s
    x10 = 0.1 * torch.randn(1, 1, 160000, device=dev)
    for be in ("mamba_ssm", "torch"):
        use_backend(model, be)
        with torch.inference_mode():
            model(x10)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(5):
                model(x10)
            torch.cuda.synchronize()
        print(f"inference 10 s, {be}: RTF {(time.perf_counter() - t) / 5 / 10:.4f}", flush=True)

# 4. training steps/s: the full metric-GAN step (batch 4, 2 s) and the generator alone

recipe = SimpleNamespace(lr=5e-4, betas=(0.8, 0.99), weight_decay=0.01, clip_grad=0.0)
t_ = np.arange(32000) / 16000
clean = torch.from_numpy(
    np.stack(
        [
            0.1
            * sum(np.sin(2 * np.pi * k * f0 * t_) / k for k in range(1, 8))
            * np.clip(np.sin(2 * np.pi * 3 * t_), 0, None)
            for f0 in (110, 140, 170, 200)
        ]
    ).astype(np.float32)
).to(dev)
noisy = clean + 0.05 * torch.randn_like(clean)
for be in ("mamba_ssm", "torch"):
    torch.manual_seed(0)
    gen = use_backend(SEMamba().to(dev), be)
    step = MetricGANStep(gen, None, recipe, Accelerator(), 16000, pesq_workers=4)
    for _ in range(2):
        step(noisy[:, None], clean[:, None, None])
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t, k = time.perf_counter(), 10
    for _ in range(k):
        log = step(noisy[:, None], clean[:, None, None])
    torch.cuda.synchronize()
    gan = k / (time.perf_counter() - t)
    opt = torch.optim.AdamW(gen.parameters(), lr=5e-4)
    t = time.perf_counter()
    for _ in range(k):
        m, p, c = gen.enhance_spectra(*gen.analysis(noisy)[:2])
        loss = m.square().mean() + c.square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    print(
        f"training {be}: metric-GAN step {gan:.2f} steps/s, generator fwd+bwd+AdamW {k / (time.perf_counter() - t):.2f} steps/s, "
        f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB, last loss {log['loss']:.3f} pesq {log['pesq']:.2f}",
        flush=True,
    )
