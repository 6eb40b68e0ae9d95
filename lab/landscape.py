"""The loss landscape around a trained network: the straight line from its first weights and a 2-D slice.

1. The line: L(theta(t)) with theta(t) = theta_0 + t (theta_T - theta_0), t from -0.25 to 1.25, on
   a training sample and a validation sample (``line_losses``).
2. The slice: L(theta_T + a d_1 + b d_2) on a grid of (a, b) in [-span, span]^2 along two random
   directions with filter normalisation (Li et al. 2018, "Visualizing the loss landscape of neural
   nets"): each direction's block of one unit, a column of W_h with its b_h entry or a column of W_o
   with its b_o entry, is scaled to the norm of that unit's block in theta_T (``filter_normalised``).
   The training path's snapshots are projected onto (d_1, d_2) by least squares (``project_path``).

Every point is the network's average cross-entropy, computed with the library's formulas
(``mlp.core.compute_layer``, ``relu``, ``average_ce_logits``). The first layer is linear in the
weights, x (W + a D_1 + b D_2) + (c + a e_1 + b e_2) = (x W + c) + a (x D_1 + e_1) + b (x D_2 + e_2),
so its three products serve every point of a plane (``plane_losses``); the hidden layer, the output
layer and the loss are then computed for a chunk of points at once, with the output weights stacked
(G, H, K) and one batched ``np.matmul``. No Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp.core import average_ce_logits, compute_layer, one_hot, relu
from mlp.network import PARAM_NAMES, Params

LINE_POINTS = 31
LINE_RANGE = (-0.25, 1.25)
GRID = 21  # points a side of the slice
SPAN = 1.0  # the slice covers a, b in [-SPAN, SPAN] (filter-normalised units: 1 = the size of theta_T)
SAMPLE_ROWS = 2000
CHUNK_ELEMENTS = 2_000_000  # (points x rows x H) hidden activations computed at once


def sample_rows(x, y, rows=SAMPLE_ROWS, seed=0):
    """A fixed, seeded sample of ``rows`` rows (all if fewer) of (x (N, F), y (N,)), in their order."""
    n = len(y)
    idx = np.arange(n) if n <= rows else np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
    return np.asarray(x)[idx], np.asarray(y)[idx]


def combine(base, directions, coefs):
    """Params base + sum_i coefs[i] directions[i] (a new Params; nothing changed)."""
    out = {}
    for name in PARAM_NAMES:
        value = np.array(getattr(base, name))
        for c, d in zip(coefs, directions):
            value = value + c * getattr(d, name)
        out[name] = value
    return Params(**out)


def plane_losses(base, directions, coefs, x, labels, progress=None):
    """Average cross-entropy at theta = base + sum_i coefs[g, i] directions[i], for each row g of coefs (G, m) -> (G,).

    x (N, F), labels (N,). Both layers are linear in their weights, so each is computed once per
    direction and combined: z_h = (x W_h + b_h) + sum_i c_i (x D_i + e_i), h = ReLU(z_h), and
    o = (h W_o + b_o) + sum_i c_i (h D'_i + e'_i), the second layer's m + 1 products one (G N, H) x
    (H, (m + 1) K) matrix product per chunk of points. In ``base``'s dtype; ``progress(fraction)`` after each chunk.
    """
    coefs = np.atleast_2d(np.asarray(coefs, float))
    dtype = base.w_h.dtype
    x, k = np.asarray(x, dtype), base.w_o.shape[1]
    y = one_hot(labels, k, dtype)
    z0 = compute_layer(x, base.w_h, base.b_h)  # (N, H) = x W_h + b_h
    dz = [compute_layer(x, d.w_h.astype(dtype), d.b_h.astype(dtype)) for d in directions]  # x D_i + e_i
    w_cat = np.concatenate([base.w_o] + [d.w_o.astype(dtype) for d in directions], axis=1)  # (H, (m + 1) K)
    b_cat = np.concatenate([base.b_o] + [d.b_o.astype(dtype) for d in directions], axis=1)
    per_chunk = max(1, CHUNK_ELEMENTS // max(z0.size, 1))
    out = np.empty(len(coefs))
    z, tmp = np.empty((min(per_chunk, len(coefs)), *z0.shape), dtype), np.empty_like(z0)
    for start in range(0, len(coefs), per_chunk):
        c = coefs[start : start + per_chunk].astype(dtype)  # (G, m)
        for g, cg in enumerate(c):
            np.copyto(z[g], z0)
            for ci, dzi in zip(cg, dz):
                z[g] += np.multiply(ci, dzi, out=tmp)
        h = relu(z[: len(c)], out=z[: len(c)])
        q = compute_layer(h.reshape(-1, z0.shape[1]), w_cat, b_cat).reshape(len(c), len(y), -1, k)
        o = q[:, :, 0] + np.einsum("gm,gnmk->gnk", c, q[:, :, 1:])  # (G, N, K) logits
        out[start : start + len(c)] = [average_ce_logits(y, o_g) for o_g in o]
        if progress is not None:
            progress(min(1.0, (start + len(c)) / len(coefs)))
    return out


@dataclass
class Line:
    t: np.ndarray  # (T,) positions: 0 is theta_0, 1 is theta_T
    train: np.ndarray  # (T,) training-sample loss
    valid: np.ndarray  # (T,) validation-sample loss


def line_losses(first, final, train, valid, points=LINE_POINTS, progress=None):
    """Training and validation loss along theta_0 + t (theta_T - theta_0), t in LINE_RANGE -> Line.

    first, final: Params (theta_0, theta_T); train, valid: (x, labels) samples.
    """
    t = np.linspace(*LINE_RANGE, points)
    final = final.copy(first.w_h.dtype)
    step = combine(final, [first], [-1.0])  # theta_T - theta_0
    half = None if progress is None else (lambda f: progress(0.5 * f))
    rest = None if progress is None else (lambda f: progress(0.5 + 0.5 * f))
    return Line(t=t, train=plane_losses(first, [step], t[:, None], *train, progress=half),
                valid=plane_losses(first, [step], t[:, None], *valid, progress=rest))


def unit_blocks(params):
    """[(w (F, H), b (1, H)), (w (H, K), b (1, K))]: per layer, column j with bias entry j is unit j's block."""
    return [(params.w_h, params.b_h), (params.w_o, params.b_o)]


def unit_norms(params):
    """Per layer, the norm of each unit's block: sqrt(sum_i w_ij^2 + b_j^2) -> [(H,), (K,)]."""
    return [np.sqrt(np.sum(w.astype(float) ** 2, axis=0) + b.astype(float)[0] ** 2) for w, b in unit_blocks(params)]


def filter_normalised(params, rng):
    """A random direction (Params of standard normal draws) whose unit blocks have ``params``' unit norms."""
    raw = Params(**{name: rng.standard_normal(getattr(params, name).shape) for name in PARAM_NAMES})
    scaled = []
    for (w, b), target in zip(unit_blocks(raw), unit_norms(params)):
        own = np.sqrt(np.sum(w ** 2, axis=0) + b[0] ** 2)
        factor = target / np.maximum(own, 1e-12)
        scaled.append((w * factor, b * factor))
    (wh, bh), (wo, bo) = scaled
    return Params(w_h=wh, b_h=bh, w_o=wo, b_o=bo)


def flat(params):
    """All parameters as one float64 vector, in PARAM_NAMES order."""
    return np.concatenate([np.asarray(getattr(params, name), float).ravel() for name in PARAM_NAMES])


def project_path(snapshots, centre, directions):
    """Least-squares (a, b) of each snapshot: argmin || (theta_s - centre) - a d_1 - b d_2 || -> (S, 2)."""
    basis = np.stack([flat(d) for d in directions], axis=1)  # (P, 2)
    offsets = np.stack([flat(s) - flat(centre) for s in snapshots], axis=1)  # (P, S)
    coords, *_ = np.linalg.lstsq(basis, offsets, rcond=None)
    return coords.T


@dataclass
class Slice:
    a: np.ndarray  # (G,) positions along d_1
    b: np.ndarray  # (G,) positions along d_2
    loss: np.ndarray  # (G, G) loss[i, j] at (a[j], b[i])
    path: np.ndarray  # (S, 2) the snapshots' (a, b)
    path_epochs: list  # the snapshots' epochs
    directions: list  # [d_1, d_2] Params (float64)


def slice_losses(final, train, grid=GRID, seed=0, snapshots=(), span=SPAN, progress=None):
    """The loss on a grid x grid slice around theta_T along two filter-normalised random directions -> Slice.

    final: Params theta_T; train: (x, labels) sample; snapshots: [(epoch, Params)] of the training path.
    """
    rng = np.random.default_rng(seed)
    directions = [filter_normalised(final, rng) for _ in range(2)]
    a = np.linspace(-span, span, grid)
    bb, aa = np.meshgrid(a, a, indexing="ij")
    losses = plane_losses(final, directions, np.stack([aa.ravel(), bb.ravel()], axis=1), *train, progress=progress)
    path = project_path([p for _, p in snapshots], final, directions) if snapshots else np.zeros((0, 2))
    return Slice(a=a, b=a.copy(), loss=losses.reshape(grid, grid), path=path,
                 path_epochs=[int(e) for e, _ in snapshots], directions=directions)
