"""Hessian eigenvalues of the training loss: Hessian-vector products by double backward, top-k by power
iteration with deflation (PyHessian's method) and by Lanczos (both ends of the spectrum), the stochastic
Lanczos quadrature (SLQ) density, and the paper's "max eigenvalue spectrum" (top-k per mini-batch of the
augmented training set, on the NLL of the mixed targets plus the L2 term, as a histogram over batches).
Beside it: the trace by Hutchinson's estimator (Rademacher probes, with its standard error) per batch, and
the top eigenvalues of each unit's own block of the Hessian (the parameters the unit owns, the rest fixed).

Explicit choices, all recorded in the output:
- the loss: NLL of the labels or of MixUp/CutMix/label-smoothed targets drawn with a fixed seed, plus
  ``l2="half"`` (wd/2 * |theta|^2: shifts every eigenvalue by wd), ``"paper"`` (wd * sum of the tensors'
  unsquared Frobenius norms, the original's term) or ``"none"``;
- BatchNorm in eval mode (running statistics) or train mode (batch statistics; running statistics are
  left untouched); dropout and stochastic depth are always off;
- attention runs as the explicit softmax(QK^T)V during Hessian products, because fused SDPA kernels have
  no double backward.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Literal, TypeVar

import torch
from torch import Tensor, nn
from tqdm import tqdm

from hub import UnitInfo, UnitIntrospection
from hub.data import DataSpec
from hub.layers import fused_attention
from training.analyze.inputs import MODEL_RECIPE, Runtime, augmentation, loss_batches
from training.analyze.shards import ShardFile
from training.augment import soft_target_cross_entropy
from training.distributed import Distributed
from training.recipes import RECIPES

MatVec = Callable[[Tensor], Tensor]
L2 = Literal["none", "half", "paper"]
T = TypeVar("T")


@dataclass(frozen=True)
class LossSpec:
    l2: L2 = "none"
    weight_decay: float = 0.05
    bn: Literal["eval", "train"] = "eval"


def l2_term(params: list[Tensor], spec: LossSpec) -> Tensor:
    if spec.l2 == "half":
        return 0.5 * spec.weight_decay * sum(p.pow(2).sum() for p in params)
    if spec.l2 == "paper":  # |p| is not differentiable at 0 (e.g. fresh biases): treat it as flat there
        return spec.weight_decay * sum(p.pow(2).sum().clamp_min(1e-30).sqrt() for p in params)
    return torch.zeros(())


def _affine_batch_norm(norm: nn.modules.batchnorm._BatchNorm, x: Tensor) -> Tensor:
    """Eval-mode BatchNorm as one per-channel scale and shift: the same function as ``F.batch_norm`` on running
    statistics, but its double backward is two products instead of ``NativeBatchNormBackwardBackward`` (about a
    quarter of a ResNet's Hessian product on CPU)."""
    scale = (norm.running_var + norm.eps).rsqrt()
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return x * scale.view(shape) + shift.view(shape)


@contextmanager
def hessian_mode(model: nn.Module, bn: str = "eval") -> Iterator[None]:
    """Eval mode with BatchNorm on running statistics (as one affine map) or, with ``bn="train"``, on batch
    statistics (momentum 0: running stats unchanged)."""
    was_training = model.training
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    affine = [m for m in norms if m.running_mean is not None] if bn == "eval" else []
    norms = norms if bn == "train" else []
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None)
             for m in norms]
    for m in norms:
        m.train()
        m.momentum = 0.0
    for m in affine:
        m.forward = partial(_affine_batch_norm, m)
    try:
        with fused_attention(False):
            yield
    finally:
        for m in affine:
            del m.forward
        for m, (momentum, tracked) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
        model.train(was_training)


class HessianOperator:
    """``v -> H v`` for the loss over fixed batches ``[(inputs, soft targets), ...]`` (flat vectors).

    One batch: the gradient graph is built once and reused by every product (PyHessian's single-batch
    mode). Several batches (or the micro-batches of one, see :func:`micro_batches`): the graph of one batch
    at a time is rebuilt in every product, products weighted by batch size; memory is one batch's graph.

    ``params``: the Hessian with respect to these parameters only, the others held fixed (the diagonal block
    they span; the L2 term, a sum over tensors, is restricted with them). Default: every trainable parameter.
    """

    def __init__(self, model: nn.Module, batches: list[tuple[Tensor, Tensor]], spec: LossSpec = LossSpec(),
                 params: Sequence[nn.Parameter] | None = None) -> None:
        self.model, self.batches, self.spec = model, batches, spec
        self.params = [p for p in (model.parameters() if params is None else params) if p.requires_grad]
        if not self.params:
            raise ValueError("no trainable parameters to differentiate")
        self.size = sum(p.numel() for p in self.params)
        self.dtype, self.device = self.params[0].dtype, self.params[0].device
        self.products = 0
        self._cached: tuple[Tensor, ...] | None = None
        if len(batches) == 1:
            self._cached = self._gradients(*batches[0])

    def _loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        with hessian_mode(self.model, self.spec.bn):
            logits = self.model(inputs)
        return soft_target_cross_entropy(logits, targets) + l2_term(self.params, self.spec).to(logits)

    def _gradients(self, inputs: Tensor, targets: Tensor) -> tuple[Tensor, ...]:
        with fused_attention(False):
            return torch.autograd.grad(self._loss(inputs, targets), self.params, create_graph=True)

    def _split(self, v: Tensor) -> list[Tensor]:
        return [chunk.view_as(p) for chunk, p in zip(v.split([p.numel() for p in self.params]), self.params,
                                                      strict=True)]

    def __call__(self, v: Tensor) -> Tensor:
        self.products += 1
        vs = self._split(v.to(self.dtype))
        if self._cached is not None:
            hv = torch.autograd.grad(self._cached, self.params, grad_outputs=vs, retain_graph=True)
            return torch.cat([h.reshape(-1) for h in hv])
        total = torch.zeros(self.size, dtype=self.dtype, device=self.device)
        count = 0
        for inputs, targets in self.batches:
            hv = torch.autograd.grad(self._gradients(inputs, targets), self.params, grad_outputs=vs)
            total += torch.cat([h.reshape(-1) for h in hv]) * len(inputs)
            count += len(inputs)
        return total / count


def micro_batches(batch: tuple[Tensor, Tensor], size: int) -> list[tuple[Tensor, Tensor]]:
    """One mini-batch as micro-batches of ``size`` images (0: whole): the same loss, hence the same Hessian, as
    long as no image depends on another (BatchNorm on running statistics), with a fraction of the graph."""
    if not size or size >= len(batch[0]):
        return [batch]
    inputs, targets = batch
    return list(zip(inputs.split(size), targets.split(size), strict=True))


@dataclass(frozen=True)
class Eigenpairs:
    values: list[float]
    residuals: list[float]
    """``|H v - lambda v|`` per eigenvalue (Lanczos: the Ritz residual estimate)."""
    products: int
    method: str
    converged: list[bool] = field(default_factory=list)


def _probe(size: int, generator: torch.Generator, rademacher: bool = False) -> Tensor:
    """A float64 Gaussian draw, or its signs (a Rademacher vector of +-1)."""
    v = torch.randn(size, generator=generator, dtype=torch.float64)
    return v.sign() if rademacher else v


def _random_unit(size: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device,
                 rademacher: bool = False) -> Tensor:
    v = _probe(size, generator, rademacher)
    return (v / v.norm()).to(dtype=dtype, device=device)


def power_iteration(op: MatVec, size: int, k: int = 1, max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
                    dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Eigenpairs:
    """Top-``k`` eigenvalues by magnitude: power iteration, Gram-Schmidt deflation against the eigenvectors
    already found, stopping when the Rayleigh quotient changes by less than ``tol`` (relative)."""
    generator = torch.Generator().manual_seed(seed)
    found: list[Tensor] = []
    values, residuals, converged, products = [], [], [], 0

    def deflate(v: Tensor) -> Tensor:
        for u in found:
            v = v - (v @ u) * u
        return v

    for _ in range(k):
        v = deflate(_random_unit(size, generator, dtype, torch.device(device)))
        v = v / v.norm()
        value, done = None, False
        for _ in range(max_iter):
            hv = op(v)
            products += 1
            new = (hv @ v).item()
            hv = deflate(hv)
            if value is not None and abs(new - value) <= tol * (abs(value) + 1e-12):
                done = True
            value = new
            norm = hv.norm()
            if norm == 0:
                done = True
                break
            residual = (hv - value * v).norm().item()
            v = hv / norm
            if done:
                break
        found.append(v)
        values.append(value)
        residuals.append(residual)
        converged.append(done)
    return Eigenpairs(values, residuals, products, "power", converged)


@dataclass
class Tridiagonal:
    alphas: Tensor
    betas: Tensor

    def matrix(self) -> Tensor:
        t = torch.diag(self.alphas)
        if len(self.betas):
            t += torch.diag(self.betas, 1) + torch.diag(self.betas, -1)
        return t


def lanczos(op: MatVec, size: int, steps: int, seed: int = 0, dtype: torch.dtype = torch.float32,
            device: str | torch.device = "cpu", rademacher: bool = False,
            done: Callable[[Tridiagonal, float], bool] | None = None) -> tuple[Tridiagonal, float]:
    """At most ``steps`` Lanczos iterations with full re-orthogonalisation (twice), the tridiagonal in float64.

    Returns the tridiagonal and the last beta (for Ritz residuals). Stops early on an invariant subspace, or
    when ``done(tridiagonal, beta)`` says the wanted Ritz pairs have converged (checked after every step).
    """
    steps = min(steps, size)
    generator = torch.Generator().manual_seed(seed)
    q = _random_unit(size, generator, dtype, torch.device(device), rademacher)
    basis = torch.empty(steps, size, dtype=dtype, device=q.device)
    alphas, betas = [], []
    beta, previous = 0.0, torch.zeros_like(q)
    for j in range(steps):
        basis[j] = q
        w = op(q)
        alpha = (w @ q).item()
        w = w - alpha * q - beta * previous
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        alphas.append(alpha)
        beta = w.norm().item()
        if j == steps - 1 or beta <= 1e-10 * max(abs(a) for a in alphas):
            break
        if done is not None and done(_tridiagonal(alphas, betas), beta):
            break
        betas.append(beta)
        previous, q = q, w / beta
    return _tridiagonal(alphas, betas), beta


def _tridiagonal(alphas: list[float], betas: list[float]) -> Tridiagonal:
    return Tridiagonal(torch.tensor(alphas, dtype=torch.float64), torch.tensor(betas, dtype=torch.float64))


Which = Literal["largest", "smallest", "magnitude"]


def ritz_pairs(t: Tridiagonal, last_beta: float, k: int, which: Which) -> tuple[Tensor, Tensor]:
    """The ``k`` wanted Ritz values of a Lanczos tridiagonal and their residual norms ``|beta_m s_{m,i}|``
    (exact for the Ritz pair of the Krylov space built so far, an upper bound on its eigenvalue error)."""
    theta, s = torch.linalg.eigh(t.matrix())
    key = theta.abs() if which == "magnitude" else theta
    order = torch.argsort(key, descending=which != "smallest")[:k]
    return theta[order], (last_beta * s[-1, order]).abs()


def lanczos_eigenvalues(op: MatVec, size: int, k: int = 5, steps: int = 40, seed: int = 0, tol: float = 1e-3,
                        dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                        which: Which = "largest") -> Eigenpairs:
    """The ``k`` algebraically largest, smallest, or largest-magnitude eigenvalues (the set power iteration
    targets) from the Ritz values of one Lanczos run, which converge at both ends of the spectrum.

    The number of steps is chosen by residual: the run stops as soon as every wanted Ritz value has a residual
    of at most ``tol * |value|`` (``steps`` is the most it may take); those that never get there are
    flagged ``converged=False``."""
    def converged(t: Tridiagonal, beta: float) -> bool:
        if len(t.alphas) < k:
            return False
        values, residuals = ritz_pairs(t, beta, k, which)
        return bool((residuals <= tol * values.abs().clamp(min=1e-12)).all())

    counter = _Counting(op)
    t, last_beta = lanczos(counter, size, steps, seed, dtype, device, done=converged)
    values, residuals = ritz_pairs(t, last_beta, k, which)
    flags = (residuals <= tol * values.abs().clamp(min=1e-12)).tolist()
    return Eigenpairs(values.tolist(), residuals.tolist(), counter.count, f"lanczos-{which}", flags)


class _Counting:
    def __init__(self, op: MatVec) -> None:
        self.op, self.count = op, 0

    def __call__(self, v: Tensor) -> Tensor:
        self.count += 1
        return self.op(v)


@dataclass(frozen=True)
class Density:
    nodes: list[list[float]]
    weights: list[list[float]]
    grid: list[float]
    density: list[float]
    sigma: float


def slq_density(op: MatVec, size: int, steps: int = 30, probes: int = 4, seed: int = 0, grid_points: int = 1000,
                sigma: float | None = None, dtype: torch.dtype = torch.float32,
                device: str | torch.device = "cpu") -> Density:
    """Stochastic Lanczos quadrature: per Rademacher probe, the Ritz values (nodes) and squared first
    eigenvector components (weights), then a Gaussian-broadened density normalised to integrate to 1.
    ``sigma`` defaults to 1% of the spectral range."""
    nodes, weights = [], []
    for probe in range(probes):
        t, _ = lanczos(op, size, steps, seed + probe, dtype, device, rademacher=True)
        theta, s = torch.linalg.eigh(t.matrix())
        nodes.append(theta)
        weights.append(s[0] ** 2)
    all_nodes = torch.cat(nodes)
    low, high = all_nodes.min().item(), all_nodes.max().item()
    spread = max(high - low, 1e-12)
    sigma = sigma or 0.01 * spread
    grid = torch.linspace(low - 0.05 * spread - 3 * sigma, high + 0.05 * spread + 3 * sigma, grid_points,
                          dtype=torch.float64)
    density = torch.zeros_like(grid)
    for theta, w in zip(nodes, weights, strict=True):
        density += (w[None, :] * torch.exp(-((grid[:, None] - theta[None, :]) ** 2) / (2 * sigma**2))).sum(1)
    density /= probes * math.sqrt(2 * math.pi) * sigma
    density /= torch.trapezoid(density, grid)
    return Density([n.tolist() for n in nodes], [w.tolist() for w in weights], grid.tolist(), density.tolist(),
                   sigma)


@dataclass(frozen=True)
class MaxEigenvalueSpectrum:
    """The paper's protocol: the top-k eigenvalues of each mini-batch's Hessian, collected over batches."""

    per_batch: list[Eigenpairs]
    mean_top_positive: float
    """Mean over batches of each batch's largest positive eigenvalue (NaN if no batch has one)."""
    negative_fraction: float
    """Fraction of the collected eigenvalues that are negative."""

    @property
    def batches(self) -> int:
        return len(self.per_batch)

    @property
    def values(self) -> list[float]:
        return [v for pairs in self.per_batch for v in pairs.values]

    @property
    def unconverged(self) -> int:
        """How many of the collected eigenvalues did not reach the tolerance (residual or relative change)."""
        return sum(not c for pairs in self.per_batch for c in pairs.converged)

    def top_positive(self) -> list[float]:
        """Each batch's largest positive eigenvalue (batches with none left out)."""
        return [max(v for v in p.values if v > 0) for p in self.per_batch if any(v > 0 for v in p.values)]


@dataclass(frozen=True)
class TopK:
    """How the ``k`` largest eigenvalues by magnitude of one Hessian are found: deflated power iteration
    (PyHessian) or one Lanczos run (far fewer products); a dominant negative one shows as negative."""

    k: int = 5
    method: Literal["power", "lanczos"] = "power"
    max_iter: int = 100
    tol: float = 1e-3
    lanczos_steps: int = 60

    def __call__(self, op: HessianOperator, seed: int) -> Eigenpairs:
        if self.method == "power":
            return power_iteration(op, op.size, self.k, self.max_iter, self.tol, seed, op.dtype, op.device)
        return lanczos_eigenvalues(op, op.size, self.k, self.lanczos_steps, seed, self.tol, op.dtype, op.device,
                                   which="magnitude")


def _sharded(count: int, compute: Callable[[int], T], dist: Distributed, shards: ShardFile | None, desc: str,
             unit: str, progress: bool) -> list[T]:
    """``compute(i)`` for the items ``i % world == rank`` (those ``shards`` already holds are read back, each new
    one is kept there), gathered in item order on every rank: identical to one process when each item is
    seeded by its index alone."""
    done = {}
    for i in tqdm(dist.mine(count), desc=desc, unit=unit, disable=not (progress and dist.main)):
        item = shards.get(i) if shards is not None else None
        if item is None:
            item = compute(i)
            if shards is not None:
                shards.put(i, item)
        done[i] = item
    return dist.gather(done, count)


def max_eigenvalue_spectrum(model: nn.Module, batches: Sequence[tuple[Tensor, Tensor]], spec: LossSpec, k: int = 5,
                            method: Literal["power", "lanczos"] = "power", max_iter: int = 100, tol: float = 1e-3,
                            lanczos_steps: int = 30, seed: int = 0, progress: bool = True,
                            dist: Distributed = Distributed(), shards: ShardFile | None = None,
                            micro_batch: int = 0) -> MaxEigenvalueSpectrum:
    """Both methods return the ``k`` largest by magnitude (a dominant negative one shows as negative, as in
    PyHessian): ``power`` by deflated power iteration, ``lanczos`` from one Lanczos run (far fewer products).

    Under torchrun each rank takes the batches ``i % world == rank`` (batch ``i`` always starts from seed
    ``seed + i``), so the gathered spectrum is the single process's; ``shards`` keeps each finished batch.
    ``micro_batch`` images per gradient graph (0: the whole batch, one graph reused by every product)."""
    top = TopK(k, method, max_iter, tol, lanczos_steps)

    def solve(i: int) -> Eigenpairs:
        return top(HessianOperator(model, micro_batches(batches[i], micro_batch), spec), seed + i)

    per_batch = _sharded(len(batches), solve, dist, shards, "hessian batches", "batch", progress)
    values = [v for pairs in per_batch for v in pairs.values]
    partial = MaxEigenvalueSpectrum(per_batch, math.nan, sum(v < 0 for v in values) / max(len(values), 1))
    tops = partial.top_positive()
    return dataclasses.replace(partial, mean_top_positive=sum(tops) / len(tops) if tops else math.nan)


MIN_TRACE_PROBES = 5
"""Probes before the tolerance may stop Hutchinson's estimator (a standard error from fewer is itself noise)."""


@dataclass(frozen=True)
class TraceEstimate:
    value: float
    se: float
    """Standard error over the probes: their sample standard deviation / sqrt(probes) (NaN for one probe)."""
    probes: int
    converged: bool
    """Stopped by the tolerance (``se <= tol * |value|``) before the probe budget ran out."""


def _mean_and_se(samples: list[float]) -> tuple[float, float]:
    values = torch.tensor(samples, dtype=torch.float64)
    se = (values.std() / math.sqrt(len(values))).item() if len(values) > 1 else math.nan
    return values.mean().item(), se


def hutchinson_trace(op: MatVec, size: int, probes: int = 10, tol: float = 0.0, seed: int = 0,
                     dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> TraceEstimate:
    """``tr(H) = E[z^T H z]`` over Rademacher vectors ``z`` (Hutchinson 1989): the mean of at most ``probes``
    samples with its standard error. Unlike PyHessian's stop on the change of the running mean, it stops once
    the standard error is at most ``tol * |mean|`` (after :data:`MIN_TRACE_PROBES`; ``tol=0``: every probe)."""
    generator = torch.Generator().manual_seed(seed)
    samples: list[float] = []
    for _ in range(probes):
        z = _probe(size, generator, rademacher=True).to(dtype=dtype, device=device)
        samples.append((op(z).double() @ z.double()).item())
        value, se = _mean_and_se(samples)
        if tol > 0 and len(samples) >= MIN_TRACE_PROBES and se <= tol * abs(value):
            return TraceEstimate(value, se, len(samples), True)
    return TraceEstimate(*_mean_and_se(samples), len(samples), False)


@dataclass(frozen=True)
class HessianTrace:
    """The trace of each mini-batch's Hessian and of the Hessian of the loss over all of them (the mean of the
    batches', weighted by their sizes)."""

    per_batch: list[TraceEstimate]
    images: list[int]
    value: float
    se: float
    """From the probes alone (independent between batches): how well ``value`` pins down these batches' trace."""
    batch_se: float
    """The spread between batches / sqrt(batches) (NaN for one): how far other batches of the same data may
    move it."""


def hessian_trace(model: nn.Module, batches: Sequence[tuple[Tensor, Tensor]], spec: LossSpec, probes: int = 10,
                  tol: float = 0.0, seed: int = 0, progress: bool = True, dist: Distributed = Distributed(),
                  shards: ShardFile | None = None, micro_batch: int = 0) -> HessianTrace:
    """Hutchinson's estimate per batch, batch ``i`` with its own probes (seed ``seed + i``), sharded over ranks
    as the spectrum is."""
    def estimate(i: int) -> TraceEstimate:
        op = HessianOperator(model, micro_batches(batches[i], micro_batch), spec)
        return hutchinson_trace(op, op.size, probes, tol, seed + i, op.dtype, op.device)

    per_batch = _sharded(len(batches), estimate, dist, shards, "hessian trace", "batch", progress)
    images = [len(inputs) for inputs, _ in batches]
    weights = torch.tensor(images, dtype=torch.float64) / sum(images)
    values = torch.tensor([t.value for t in per_batch], dtype=torch.float64)
    ses = torch.tensor([t.se for t in per_batch], dtype=torch.float64)
    spread = (values.std() / math.sqrt(len(values))).item() if len(values) > 1 else math.nan
    return HessianTrace(per_batch, images, (weights @ values).item(), (weights**2 @ ses**2).sqrt().item(), spread)


@dataclass(frozen=True)
class UnitEigenpairs:
    unit: UnitInfo
    parameters: int
    """How many parameters the unit owns: the size of its block of the Hessian."""
    eigenpairs: Eigenpairs


def unit_eigenvalues(model: UnitIntrospection, batch: tuple[Tensor, Tensor], spec: LossSpec, top: TopK,
                     seed: int = 0, progress: bool = True, dist: Distributed = Distributed(),
                     shards: ShardFile | None = None, micro_batch: int = 0) -> list[UnitEigenpairs]:
    """The top eigenvalues of each unit's block of the Hessian on one batch: the second derivatives of the loss
    with respect to the parameters the unit owns (``unit_parameters``), every other parameter held fixed. Units
    without trainable parameters are left out; unit ``i`` starts from seed ``seed + i``; the units are shared
    over ranks."""
    owned = [(info, [p for _, p in model.unit_parameters(info.index) if p.requires_grad])
             for info in model.unit_infos()]
    owned = [(info, params) for info, params in owned if params]

    def solve(j: int) -> Eigenpairs:
        info, params = owned[j]
        return top(HessianOperator(model, micro_batches(batch, micro_batch), spec, params), seed + info.index)

    pairs = _sharded(len(owned), solve, dist, shards, "hessian per unit", "unit", progress)
    return [UnitEigenpairs(info, sum(p.numel() for p in params), eigenpairs)
            for (info, params), eigenpairs in zip(owned, pairs, strict=True)]


@dataclass(frozen=True)
class HessianSettings:
    batches: int = 10
    """mini-batches in the max eigenvalue spectrum"""
    k: int = 5
    """eigenvalues per batch"""
    method: Literal["power", "lanczos"] = "power"
    """both give the k largest by magnitude: power iteration with deflation (PyHessian) or one Lanczos run (far
    fewer Hessian products)"""
    max_iter: int = 100
    """power iteration: products per eigenvalue at most"""
    tol: float = 1e-3
    """relative tolerance of an eigenvalue: power iteration stops when it changes by less; Lanczos when every
    wanted Ritz value has a residual of at most tol * |value|"""
    lanczos_steps: int = 60
    """Lanczos: steps at most (fewer once converged by residual); the density takes exactly this many"""
    augment: str = field(default=MODEL_RECIPE, metadata={"choices": [MODEL_RECIPE, "none", *RECIPES]})
    """model: the training augmentation + MixUp/CutMix of the recipe the model was trained with (its
    recipe.json; the paper's if it has none); a recipe name: that one; none: evaluation images, one-hot
    targets. Every draw is seeded"""
    l2: L2 = "paper"
    """paper: wd * sum of tensor norms (the original); half: wd/2 |theta|^2; none"""
    weight_decay: float = 0.05
    """weight decay of the L2 term"""
    bn: Literal["eval", "train"] = "eval"
    """BatchNorm statistics during products"""
    density: bool = False
    """also the SLQ density and the Lanczos ends on the first batch"""
    probes: int = 4
    """SLQ probe vectors"""
    micro_batch: int = 0
    """images per gradient graph: 0 keeps one graph per mini-batch, reused by every product (fastest); a
    smaller number rebuilds the graph of one micro-batch at a time in every product: the same Hessian in a
    fraction of the memory (needs --bn eval)"""
    trace: bool = True
    """Hutchinson's estimate of the Hessian trace on every batch of the spectrum and over all of them, with its
    standard error"""
    trace_probes: int = 10
    """Rademacher probes per batch at most (one Hessian product each)"""
    trace_tol: float = 0.05
    """a batch stops drawing probes once the standard error of its trace is at most trace_tol * |trace| (after 5
    probes); 0: every probe"""
    per_unit: bool = False
    """also the top eigenvalues (by magnitude, by --method) of each unit's own block of the Hessian (the
    parameters the unit owns, every other one fixed), on the first batch: a Hessian eigensolve per unit"""
    unit_k: int = 1
    """eigenvalues per unit"""

    def __post_init__(self) -> None:
        if self.micro_batch < 0:
            raise ValueError(f"--micro-batch must be >= 0, got {self.micro_batch}")
        if self.trace_probes < 1 or self.unit_k < 1:
            raise ValueError(f"--trace-probes and --unit-k must be >= 1, got {self.trace_probes} and {self.unit_k}")
        if self.micro_batch and self.bn == "train":
            raise ValueError("--micro-batch needs --bn eval: with batch statistics every image depends on the "
                             "whole mini-batch, so micro-batches would change the Hessian")

    @property
    def loss(self) -> LossSpec:
        return LossSpec(self.l2, self.weight_decay, self.bn)

    def top(self, k: int) -> TopK:
        return TopK(k, self.method, self.max_iter, self.tol, self.lanczos_steps)


@dataclass(frozen=True)
class LanczosEnds:
    largest: Eigenpairs
    smallest: Eigenpairs


@dataclass(frozen=True)
class HessianResult:
    SCHEMA_VERSION: ClassVar[int] = 3
    spectrum: MaxEigenvalueSpectrum
    first_batch_lanczos: LanczosEnds | None = None
    density: Density | None = None
    attention: str = "explicit softmax (fused kernels have no double backward)"
    augmentation: str = ""
    """Which recipe's augmentation the loss was measured on, and why."""
    trace: HessianTrace | None = None
    per_unit: list[UnitEigenpairs] = field(default_factory=list)
    """The top eigenvalues of each unit's block on the first batch (empty unless asked for)."""


def run(model: UnitIntrospection, data: DataSpec, settings: HessianSettings,
        runtime: Runtime = Runtime()) -> HessianResult:
    """The spectrum, the trace and the per-unit eigenvalues are shared over torchrun ranks item by item (batches,
    batches, units: each seeded by its index, so the gathered result is the single process's); the density and
    the Lanczos ends of the first batch are computed by every rank alike."""
    augment, described = augmentation(model, settings.augment)
    batches = loss_batches(model, data, augment, limit=settings.batches)
    key = {"model": model.source, "data": data, "settings": settings}
    shards = {name: ShardFile(runtime.workdir, name, key, runtime.dist, item)
              for name, item in (("hessian", Eigenpairs), ("hessian-trace", TraceEstimate),
                                 ("hessian-units", Eigenpairs))}
    common = {"progress": runtime.progress, "dist": runtime.dist, "micro_batch": settings.micro_batch}
    spectrum = max_eigenvalue_spectrum(model, batches, settings.loss, settings.k, settings.method, settings.max_iter,
                                       settings.tol, settings.lanczos_steps, data.seed,
                                       shards=shards["hessian"], **common)
    trace = hessian_trace(model, batches, settings.loss, settings.trace_probes, settings.trace_tol, data.seed,
                          shards=shards["hessian-trace"], **common) if settings.trace else None
    per_unit = unit_eigenvalues(model, batches[0], settings.loss, settings.top(settings.unit_k), data.seed,
                                shards=shards["hessian-units"], **common) if settings.per_unit else []
    for shard in shards.values():
        shard.remove()
    result = HessianResult(spectrum, augmentation=described, trace=trace, per_unit=per_unit)
    if not settings.density:
        return result
    op = HessianOperator(model, micro_batches(batches[0], settings.micro_batch), settings.loss)
    density = slq_density(op, op.size, settings.lanczos_steps, settings.probes, data.seed, dtype=op.dtype,
                          device=op.device)
    ends = LanczosEnds(*(lanczos_eigenvalues(op, op.size, settings.k, settings.lanczos_steps, data.seed, settings.tol,
                                             op.dtype, op.device, which) for which in ("largest", "smallest")))
    return dataclasses.replace(result, first_batch_lanczos=ends, density=density)
