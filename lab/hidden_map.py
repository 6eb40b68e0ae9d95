"""The hidden layer's map: each letter's hidden activations h = ReLU(x W_h + b_h) projected to 2-D by PCA.

PCA with numpy's SVD: centre the (N, H) activations (h - mean), take the SVD h_c = U S V^T, and the
top two rows of V^T are the axes; a letter's point is (h - mean) V_2 (its first two principal
components). The axes and the mean are fitted once, on one snapshot's activations (the final
weights by default), and every snapshot is projected with them, so the clusters can be watched
separating across epochs in one frame. Each axis's sign is fixed (its entry of largest magnitude
is positive), so the same activations always give the same picture. No Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp.network import forward

SAMPLE = 1000  # validation letters on the map


def sample_indices(n, size=SAMPLE, seed=0):
    """A fixed, seeded choice of ``size`` row indices of n (all if fewer), sorted."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def fix_signs(axes):
    """Each row of ``axes`` (m, H) times -1 if needed so that its entry of largest magnitude is positive."""
    axes = np.array(axes, dtype=float)
    biggest = axes[np.arange(len(axes)), np.argmax(np.abs(axes), axis=1)]
    return axes * np.where(biggest < 0, -1.0, 1.0)[:, None]


HUGE = 1e100  # activations beyond this (a model whose weights are near the float maximum) are scaled first


def scale_for(h):
    """A power of two that brings the finite activations of h within 2, if any exceeds ``HUGE``; else 1."""
    finite = np.abs(h[np.isfinite(h)])
    top = float(finite.max()) if finite.size else 0.0
    return float(np.ldexp(1.0, np.frexp(top)[1] - 1)) if top > HUGE else 1.0  # top = m 2^e, m in [0.5, 1)


def cleaned(h, scale):
    """h / scale with NaN read as 0 and +-inf as the largest finite activation's sign (so the SVD converges)."""
    h = np.asarray(h, float) / scale
    finite = np.abs(h[np.isfinite(h)])
    top = float(finite.max()) if finite.size else 1.0
    return np.nan_to_num(h, nan=0.0, posinf=top, neginf=-top)


@dataclass(frozen=True)
class Pca:
    mean: np.ndarray  # (H,) the fitted activations' mean (of h / scale)
    axes: np.ndarray  # (2, H) the top two right singular vectors, rows, signs fixed
    explained: np.ndarray  # (2,) share of the variance along each axis
    scale: float = 1.0  # activations are divided by this first (1 unless they are astronomically large)

    def project(self, h):
        """(N, H) -> (N, 2) = (h / scale - mean) axes^T."""
        return (cleaned(h, self.scale) - self.mean) @ self.axes.T


def fit_pca(h, components=2):
    """PCA of the rows of h (N, H): centre, SVD, top ``components`` axes -> Pca (no axes if the SVD fails)."""
    scale = scale_for(np.asarray(h, float))
    h = cleaned(h, scale)
    mean = h.mean(axis=0)
    try:
        _, s, vt = np.linalg.svd(h - mean, full_matrices=False)
    except np.linalg.LinAlgError:
        s, vt = np.zeros(0), np.zeros((0, h.shape[1]))
    total = float(np.sum(s ** 2))
    explained = (s[:components] ** 2) / total if total > 0 else np.zeros(min(components, len(s)))
    axes = np.zeros((components, h.shape[1]))
    axes[: len(vt[:components])] = vt[:components]
    return Pca(mean=mean, axes=fix_signs(axes), explained=np.pad(explained, (0, components - len(explained))),
               scale=scale)


def activations(params, x):
    """(h (N, H), predicted letters (N,)) of the network on x (N, F), by ``mlp.network.forward``."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        fw = forward(params, np.asarray(x, params.w_h.dtype))
    return fw.h, np.argmax(fw.o, axis=1)


@dataclass
class MapFrame:
    epoch: int
    xy: np.ndarray  # (N, 2) the points on the shared axes
    predicted: np.ndarray  # (N,) predicted letter (0..9) at this snapshot
    wrong: np.ndarray  # (N,) bool: predicted != true


@dataclass
class HiddenMap:
    rows: np.ndarray  # (N,) indices of the letters into the set they were sampled from
    true: np.ndarray  # (N,) true letters
    pca: Pca  # fitted on the reference snapshot
    reference_epoch: int
    frames: list  # [MapFrame], one per snapshot, in order


def hidden_map(snapshots, x, y, rows, reference=-1, progress=None):
    """The map of the letters ``rows`` of (x, y) at every snapshot [(epoch, Params)], on one PCA -> HiddenMap.

    The axes are fitted on snapshot ``reference`` (default the last: the final weights).
    ``progress(fraction)`` is called after each snapshot's forward pass.
    """
    rows = np.asarray(rows)
    xs, true = np.asarray(x)[rows], np.asarray(y)[rows].astype(int)
    computed = []
    for i, (epoch, params) in enumerate(snapshots):
        computed.append((epoch, *activations(params, xs)))
        if progress is not None:
            progress((i + 1) / len(snapshots))
    ref_epoch, ref_h, _ = computed[reference]
    pca = fit_pca(ref_h)
    frames = [MapFrame(epoch=int(e), xy=pca.project(h), predicted=pred, wrong=pred != true)
              for e, h, pred in computed]
    return HiddenMap(rows=rows, true=true, pca=pca, reference_epoch=int(ref_epoch), frames=frames)
