"""Mamba (Gu & Dao 2023) with two interchangeable selective-scan backends.

`Mamba` has the parameter names, shapes and initialisation of
`mamba_ssm.modules.mamba_simple.Mamba`, so state dicts move between the two. The selective
scan runs on `mamba_ssm`'s CUDA kernel when that package is importable and the input is on
CUDA; everywhere else on `selective_scan`, a pure-PyTorch chunked scan:

- memory is bounded: the state is materialised for one block of (sequences x chunk steps)
  at a time, never for a whole sequence; between chunks only the last state is carried;
- there is no Python loop over single time steps: inside a chunk the linear recurrence
  h_t = a_t h_{t-1} + b_t is solved by a work-efficient parallel scan (radix 8, reduce then
  scan), every pass vectorised over all groups of the chunk; it only multiplies decays in
  [0, 1] and so stays stable where a cumulative-sum-of-logs form would overflow;
- under autograd every block is recomputed in the backward pass (activation
  checkpointing), so training memory is bounded too.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

BACKENDS = ("auto", "mamba_ssm", "torch")
CHUNK = 64  # time steps solved in parallel inside one block
RADIX = 8  # steps per group in the parallel scan
BLOCK_ELEMENTS = 1 << 20  # (sequences x chunk x d_inner x d_state) per block on CPU
CUDA_BLOCK_ELEMENTS = 1 << 26


@lru_cache(maxsize=1)
def _mamba_ssm_scan():
    """mamba_ssm's fused selective scan, or None where the package is not installed."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def mamba_ssm_available() -> bool:
    return _mamba_ssm_scan() is not None


def _linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """All states of h_t = a_t * h_{t-1} + b_t along dim 1, starting from h0.

    A radix-RADIX parallel scan (reduce, then scan): time is cut into groups of RADIX steps;
    the prefixes inside every group are formed for all groups at once (RADIX vectorised
    passes, each over every group), the states entering the groups follow from the same scan
    one level up on the groups' compositions, and every state is then one multiply-add away.
    O(length) work, log_RADIX(length) levels.
    """
    n, length = a.shape[:2]
    groups = -(-length // RADIX)
    pad = groups * RADIX - length
    if pad:  # identity steps (a = 1, b = 0) leave the state unchanged
        a = torch.cat([a, a.new_ones(n, pad, *a.shape[2:])], dim=1)
        b = torch.cat([b, b.new_zeros(n, pad, *b.shape[2:])], dim=1)
    # unbind, not indexing: its backward is one stack, where each index's would zero-fill a
    # whole gradient tensor
    a = a.unflatten(1, (groups, RADIX)).unbind(2)
    b = b.unflatten(1, (groups, RADIX)).unbind(2)
    prefix_a, prefix_b = [a[0]], [b[0]]
    for i in range(1, RADIX):
        prefix_b.append(torch.addcmul(b[i], a[i], prefix_b[-1]))
        prefix_a.append(a[i] * prefix_a[-1])
    if groups == 1:
        entering = h0.unsqueeze(1)
    else:
        ends = _linear_scan(prefix_a[-1], prefix_b[-1], h0)
        entering = torch.cat([h0.unsqueeze(1), ends[:, :-1]], dim=1)
    h = torch.stack([torch.addcmul(pb, pa, entering) for pa, pb in zip(prefix_a, prefix_b)], dim=2)
    return h.flatten(1, 2)[:, :length]


def _scan_block(u, delta, z, B, C, A, D, delta_bias, delta_softplus: bool, h0):
    """One block of sequences x chunk steps, all per-step work included: u, delta, z
    (n, L, d_inner); B, C (n, L, d_state); h0 (n, d_inner, d_state). Returns the output
    (n, L, d_inner) and the last state; the state is only ever this block's."""
    work = h0.dtype
    u, delta, B, C = u.to(work), delta.to(work), B.to(work), C.to(work)
    if delta_bias is not None:
        delta = delta + delta_bias
    if delta_softplus:
        delta = F.softplus(delta)
    decay = torch.exp(delta.unsqueeze(-1) * A)
    drive = (delta * u).unsqueeze(-1) * B.unsqueeze(2)
    h = _linear_scan(decay, drive, h0)
    y = (h @ C.unsqueeze(-1)).squeeze(-1)
    if D is not None:
        y = torch.addcmul(y, u, D)
    if z is not None:
        y = y * F.silu(z.to(work))
    return y, h[:, -1]


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, chunk=None):
    """Pure-PyTorch equivalent of mamba_ssm's `selective_scan_fn` (same arguments, layouts).

    u, delta, z: (batch, d_inner, length); A: (d_inner, d_state); B, C: (batch, d_state,
    length); D, delta_bias: (d_inner,). Returns (batch, d_inner, length) in u's dtype.
    Computed in float32 (float64 if u is float64), like the reference kernel. Besides its
    inputs it allocates the output and one block's working set, whatever the length.
    """
    chunk = chunk or CHUNK
    dtype = u.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    batch, d_inner, length = u.shape
    d_state = A.shape[1]
    u, delta, B, C = u.transpose(1, 2), delta.transpose(1, 2), B.transpose(1, 2), C.transpose(1, 2)
    z = z.transpose(1, 2) if z is not None else None
    A = A.to(work)
    D = D.to(work) if D is not None else None
    delta_bias = delta_bias.to(work) if delta_bias is not None else None

    budget = CUDA_BLOCK_ELEMENTS if u.is_cuda else BLOCK_ELEMENTS
    rows = max(1, budget // (chunk * d_inner * d_state))
    grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (u, delta, A, B, C, D, z, delta_bias)
    )
    # without autograd the blocks are written into one output; with it they are joined by
    # cat, whose backward slices (writing into a tensor would clone its whole gradient per block)
    y = None if grad else torch.empty(batch, length, d_inner, dtype=dtype, device=u.device)
    rows_out = []
    for r in range(0, batch, rows):
        h = torch.zeros(min(rows, batch - r), d_inner, d_state, dtype=work, device=u.device)
        pieces = []
        for s in range(0, length, chunk):
            part = (slice(r, r + rows), slice(s, s + chunk))
            args = (
                u[part],
                delta[part],
                None if z is None else z[part],
                B[part],
                C[part],
                A,
                D,
                delta_bias,
                delta_softplus,
                h,
            )
            if grad:
                out, h = checkpoint(_scan_block, *args, use_reentrant=False)
                pieces.append(out)
            else:
                y[part], h = _scan_block(*args)
        if grad:
            rows_out.append(torch.cat(pieces, dim=1))
    if grad:
        y = torch.cat(rows_out, dim=0).to(dtype)
    return y.transpose(1, 2)


class Mamba(nn.Module):
    """The selective state-space block; parameters as mamba_ssm's `Mamba` (mamba_simple).

    backend: "auto" (mamba_ssm on CUDA when installed, else the PyTorch scan), "mamba_ssm"
    or "torch". It chooses the kernel only; weights and outputs are the same.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        backend: str = "auto",
    ):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.backend = backend
        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1, bias=conv_bias
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)

        # mamba_ssm's initialisation: dt weights uniform in +-dt_rank^-0.5, dt bias the inverse
        # softplus of a log-uniform step in [dt_min, dt_max], S4D-real A = -(1..d_state), D = 1.
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)  # last, as in mamba_ssm's RNG order

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        if name not in BACKENDS:
            raise ValueError(f"unknown Mamba backend {name!r}; choose one of {BACKENDS}")
        if name == "mamba_ssm" and not mamba_ssm_available():
            raise ValueError(
                "Mamba backend 'mamba_ssm' asked for, but mamba_ssm is not installed "
                "(pip install 'sepflow[mamba]' on a CUDA machine)"
            )
        self._backend = name

    def _scan(self, x: torch.Tensor):
        if self.backend == "mamba_ssm" or (self.backend == "auto" and x.is_cuda and mamba_ssm_available()):
            return _mamba_ssm_scan()
        return selective_scan

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, length, d_model) -> (batch, length, d_model)."""
        length = hidden.shape[1]
        x, z = self.in_proj(hidden).transpose(1, 2).chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :length])
        dt, B, C = torch.split(self.x_proj(x.transpose(1, 2)), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (dt @ self.dt_proj.weight.t()).transpose(1, 2)
        y = self._scan(x)(
            x.contiguous(),
            dt.contiguous(),
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2).contiguous(),
            C.transpose(1, 2).contiguous(),
            self.D.float(),
            z=z.contiguous(),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )
        return self.out_proj(y.transpose(1, 2))


class MambaLayer(nn.Module):
    """Pre-norm residual Mamba, x + Mamba(RMSNorm(x)): mamba_ssm's `Block` with one layer
    and no fused add-norm (state-dict names `norm.weight`, `mixer.*`)."""

    def __init__(self, d_model: int, eps: float = 1e-5, **mamba_args):
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=eps)
        self.mixer = Mamba(d_model, **mamba_args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mixer(self.norm(x))


def use_backend(module: nn.Module, name: str) -> nn.Module:
    """Set the selective-scan backend of every Mamba inside `module`; returns `module`."""
    for m in module.modules():
        if isinstance(m, Mamba):
            m.backend = name
    return module
