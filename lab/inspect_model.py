"""What a trained 784-H-10 network learned, as arrays ready to draw.

Pure numpy (Pillow only to write the colour bar's labels); the inspection page
calls these and draws the results.

* Weight images: column j of ``w_h`` (F = 784 = 28x28 inputs) is hidden unit
  j's "template". It is drawn with a diverging colour map, blue for negative
  weights, white for zero, red for positive, on a symmetric scale
  [-s, +s] so that white always means 0. ``s`` is either each unit's own
  max |w| (patterns are easiest to see) or one scale shared by all units
  (magnitudes are comparable).
* Unit orderings: by index, by weight norm ||w_h[:, j]||, or by the outgoing
  weight w_o[j, c] to a chosen letter c (how strongly the unit votes for c).
* Activations: which training letters make a unit fire most, which units
  fire most for one input.
* Evaluation: probabilities, confusion matrix, per-class accuracy and the
  mistakes over an evaluated set, and the members of one confusion cell.

Any finite weights work. When they are so large that the forward pass in the
model's dtype overflows (h or o beyond its range), the rows concerned are
computed again with each layer scaled by a power of two, which is exact:
ReLU(2^e z) = 2^e ReLU(z), so o = 2^t o' with o' of moderate size, and
softmax(2^t o') is evaluated without ever forming 2^t o' (``probabilities``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp.core import K_CLASSES, LETTERS, relu
from mlp.metrics import accuracy, confusion_matrix, misclassified, per_class_accuracy
from mlp.network import forward

SIDE = 28

# ColorBrewer RdBu (11 classes) reversed, with a pure white centre: negative blue, zero white, positive red.
DIVERGING_ANCHORS = (
    "#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#ffffff",
    "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f",
)
LUT_SIZE = 255  # odd, so that entry 127 is exactly zero (white)

ORDERINGS = {
    "index": "unit number",
    "norm": "weight norm ||w||, largest first",
    "letter": "outgoing weight to a letter, largest first",
}


def _hex_to_rgb(code):
    code = code.lstrip("#")
    return tuple(int(code[i : i + 2], 16) for i in (0, 2, 4))


def diverging_lut(n=LUT_SIZE, anchors=DIVERGING_ANCHORS):
    """(n, 3) uint8 colours from the most negative (row 0) through white (middle row) to the most positive."""
    rgb = np.array([_hex_to_rgb(a) for a in anchors], float)
    pos = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, pos, rgb[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


_LUT = diverging_lut()
_LUT.flags.writeable = False


def colourise(values, scale):
    """Map values onto the diverging colour map on the symmetric scale [-scale, +scale] -> uint8 RGB (..., 3).

    ``scale`` is a number or an array broadcastable against ``values``; values
    beyond the scale get the end colours; 0 is always white. A scale of 0
    (all-zero weights) draws white.
    """
    values = np.asarray(values, np.float64)
    scale = np.asarray(scale, np.float64)
    safe = np.where(scale > 0, scale, 1.0)
    t = np.clip(values / safe, -1.0, 1.0)
    t = np.where(scale > 0, t, 0.0)
    idx = np.rint((t + 1.0) * 0.5 * (LUT_SIZE - 1)).astype(np.intp)
    return _LUT[idx]


def weight_scales(w_h, mode="unit"):
    """The symmetric scale s of each unit's image, (H,).

    mode "unit": each unit's own max |w|; "shared": one scale for all units,
    the 99.5th percentile of |w_h| (so that a few outliers do not wash out
    everything else; weights beyond it get the end colours).
    """
    w = np.abs(np.asarray(w_h))
    if mode == "unit":
        return w.max(axis=0).astype(np.float64)
    if mode == "shared":
        return np.full(w.shape[1], float(np.percentile(w, 99.5)))
    raise ValueError(f"mode must be 'unit' or 'shared', got {mode!r}")


def weight_images(w_h, mode="unit", units=None):
    """Input weights of hidden units as 28x28 colour images: (n, 28, 28, 3) uint8, and their scales (n,).

    w_h: (784, H). ``units`` picks and orders the units (default: all, by index).
    The scale of each image follows ``weight_scales(w_h, mode)`` (computed over all units).
    """
    w_h = np.asarray(w_h)
    if w_h.shape[0] != SIDE * SIDE:
        raise ValueError(f"w_h must have {SIDE * SIDE} rows (28x28 inputs), got {w_h.shape}")
    scales = weight_scales(w_h, mode)
    units = np.arange(w_h.shape[1]) if units is None else np.asarray(units, np.intp)
    tiles = w_h[:, units].T.reshape(len(units), SIDE, SIDE)
    return colourise(tiles, scales[units][:, None, None]), scales[units]


def unit_order(params, by="index", letter=None):
    """Hidden unit numbers (H,) in display order.

    by "index": 0..H-1; "norm": largest ||w_h[:, j]|| first; "letter": largest
    outgoing weight w_o[j, letter] first (``letter`` an int 0..9 or "A".."J").
    Ties keep index order.
    """
    h = params.w_h.shape[1]
    if by == "index":
        return np.arange(h)
    if by == "norm":
        return np.argsort(-unit_norms(params.w_h), kind="stable")
    if by == "letter":
        c = _class_index(letter)
        return np.argsort(-params.w_o[:, c], kind="stable")
    raise ValueError(f"by must be one of {list(ORDERINGS)}, got {by!r}")


def _class_index(letter):
    if isinstance(letter, str):
        if letter not in LETTERS or len(letter) != 1:
            raise ValueError(f"letter must be one of {LETTERS}, got {letter!r}")
        return LETTERS.index(letter)
    if letter is None or not 0 <= int(letter) < K_CLASSES:
        raise ValueError(f"letter must be 0..{K_CLASSES - 1} or one of {LETTERS}, got {letter!r}")
    return int(letter)


def _exponents(values, axis=None):
    """e with max|values| < 2^e along ``axis`` (0 where all are 0): np.ldexp(values, -e) is in (-1, 1), exactly."""
    top = np.max(np.abs(np.asarray(values, np.float64)), axis=axis, initial=0.0)
    return np.frexp(top)[1]


def unit_norms(w_h):
    """||w_h[:, j]|| (H,) in float64; each column scaled by a power of two first when its squares could overflow."""
    w = np.asarray(w_h, np.float64)
    e = _exponents(w, axis=0)
    if e.max(initial=0) < 500:  # |w| < 2^500: the sum of squares stays far below float64's largest
        return np.sqrt(np.einsum("ij,ij->j", w, w))
    scaled = np.ldexp(w, -e)
    with np.errstate(over="ignore"):  # a norm beyond float64's range is inf
        return np.ldexp(np.sqrt(np.einsum("ij,ij->j", scaled, scaled)), e)


def hidden_layer(params, x, units=slice(None)):
    """h = ReLU(x w_h[:, units] + b_h[units]) (N, n) as float64, right for any finite weights.

    Computed in the model's dtype; if that overflows, again with each unit's weights and bias scaled by
    a power of two 2^-e into (-1, 1) (exact): h = 2^e ReLU(z'), in float64 (inf only where the true
    value is beyond float64's range).
    """
    w, b = params.w_h[:, units], params.b_h[0, units]
    x = np.asarray(x, w.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        z = x @ w + b
    if np.isfinite(z).all():
        return relu(z).astype(np.float64)
    e = np.maximum(_exponents(w, axis=0), _exponents(b[None, :], axis=0))
    z = x @ np.ldexp(w, -e) + np.ldexp(b, -e)
    with np.errstate(over="ignore"):
        return np.ldexp(relu(z).astype(np.float64), e)


def unit_activations(params, x, unit):
    """Activation h_j = ReLU(x w_h[:, j] + b_h[j]) of one hidden unit for every row of x (N, 784) -> (N,) float64."""
    return hidden_layer(params, x, [int(unit)])[:, 0]


def top_activating(params, x, unit, k=12):
    """The k rows of x that make unit ``unit`` fire most: (rows (k,), activations (k,)), strongest first.

    Rows where the unit is silent (activation 0) are left out, so fewer than k may come back.
    """
    a = unit_activations(params, x, unit)
    k = min(k, len(a))
    if k == 0:
        return np.zeros(0, np.intp), np.zeros(0, a.dtype)
    top = np.argpartition(-a, k - 1)[:k]
    top = top[np.lexsort((top, -a[top]))]  # by activation, then by row
    keep = a[top] > 0
    return top[keep], a[top][keep]


@dataclass(frozen=True)
class UnitStats:
    """One hidden unit j at a glance."""

    unit: int
    rows: np.ndarray  # rows of x that make it fire most, strongest first
    activations: np.ndarray  # their activations
    fraction_active: float  # share of the rows of x with h_j > 0
    norm: float  # ||w_h[:, j]||
    bias: float  # b_h[j]
    outgoing: np.ndarray  # (K,) w_o[j, :], its vote for each letter


def unit_stats(params, x, unit, k=12):
    """Top-activating rows of x (N, 784), firing rate, weight norm, bias and outgoing weights of hidden unit j."""
    unit = int(unit)
    a = unit_activations(params, x, unit)
    rows, acts = top_activating(params, x, unit, k)
    return UnitStats(
        unit, rows, acts, float(np.mean(a > 0)) if len(a) else float("nan"),
        float(unit_norms(params.w_h[:, [unit]])[0]), float(params.b_h[0, unit]),
        np.array(params.w_o[unit], np.float64),
    )


def hidden_activations(params, x_row):
    """Hidden activations h (H,) float64 for one input x_row (784,)."""
    return hidden_layer(params, np.asarray(x_row).reshape(1, -1))[0]


def top_hidden_units(params, x_row, k=8):
    """The k hidden units that fire most for one input: (units (k,), activations (k,)), strongest first.

    Silent units (h = 0) are left out.
    """
    h = hidden_activations(params, x_row)
    order = np.argsort(-h, kind="stable")[: min(k, len(h))]
    order = order[h[order] > 0]
    return order, h[order]


@dataclass(frozen=True)
class Evaluation:
    """A model on an evaluated set (N examples)."""

    probs: np.ndarray  # (N, K)
    predicted: np.ndarray  # (N,)
    y_true: np.ndarray  # (N,)
    cm: np.ndarray  # (K, K) counts, rows true
    per_class: np.ndarray  # (K,) accuracy per true letter (nan if absent)
    accuracy: float
    mistakes: object  # mlp.metrics.Mistakes, most confident first
    rescaled: int = 0  # rows whose forward pass overflowed in the model's dtype and were computed scaled


def evaluate(params, x, y):
    """Probabilities, predictions, confusion matrix, per-class accuracy and mistakes of a model on (x, y)."""
    y = np.asarray(y)
    probs, rescaled = probabilities(params, x)
    pred = np.argmax(probs, axis=1) if len(y) else np.zeros(0, np.intp)
    cm = confusion_matrix(y, pred)
    return Evaluation(probs, pred, y, cm, per_class_accuracy(cm), accuracy(y, pred), misclassified(probs, y),
                      rescaled)


def scaled_logits(params, x):
    """(o' (N, K) float64, t): the logits o = 2^t o' of rows x (N, 784), |o'| <= 785 H + 1, for any finite weights.

    With 2^a > max|w_h, b_h|, 2^c > max|w_o| and 2^b > max|b_o| (all exact scalings):
    h = 2^a h', h' = ReLU(x w_h 2^-a + b_h 2^-a); h w_o = 2^(a+c) u, u = h' w_o 2^-c;
    o = 2^t (u 2^(a+c-t) + b_o 2^-t), t = max(a + c, b).
    """
    a = max(_exponents(params.w_h), _exponents(params.b_h))
    w_h, b_h = (np.ldexp(np.asarray(v, np.float64), -a) for v in (params.w_h, params.b_h))
    h1 = relu(np.asarray(x, np.float64) @ w_h + b_h)
    c, b = _exponents(params.w_o), _exponents(params.b_o)
    u = h1 @ np.ldexp(np.asarray(params.w_o, np.float64), -c)
    t = max(a + c, b)
    return np.ldexp(u, a + c - t) + np.ldexp(np.asarray(params.b_o, np.float64), -t), int(t)


def scaled_softmax(o1, t):
    """softmax(2^t o1) row-wise (N, K), never forming 2^t o1: exp(-(2^t (max o1 - o1))) / sum."""
    with np.errstate(over="ignore"):  # 2^t (max - o1) beyond float64 is inf: exp(-inf) = 0, as it should be
        gap = np.ldexp(np.max(o1, axis=-1, keepdims=True) - o1, t)
    e = np.exp(-gap)
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(params, x, chunk=4096):
    """(p (N, K), rescaled): the network's probabilities for rows x (N, 784), right for any finite weights.

    The forward pass in the model's own dtype first (``mlp.network.forward``, in chunks of rows); rows
    whose logits overflow there (not all finite) are computed again from ``scaled_logits``;
    ``rescaled`` counts them.
    """
    x = np.asarray(x)
    if len(x) == 0:
        return np.zeros((0, params.sizes[2]), params.w_o.dtype), 0
    parts, bad = [], []
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, len(x), chunk):
            fw = forward(params, x[i : i + chunk])
            parts.append(fw.p)
            bad.append(~np.isfinite(fw.o).all(axis=1))
    probs, bad = np.concatenate(parts), np.concatenate(bad)
    if bad.any():
        probs[bad] = scaled_softmax(*scaled_logits(params, x[bad]))
    return probs, int(bad.sum())


def most_confused(cm):
    """(true, predicted) of the largest off-diagonal cell of a confusion matrix (the most common mistake)."""
    cm = np.asarray(cm)
    off = np.where(np.eye(len(cm), dtype=bool), -1, cm)
    t, p = np.unravel_index(int(np.argmax(off)), cm.shape)
    return int(t), int(p)


def predict_one(params, x_row):
    """The network's probabilities (K,) for one input row (784,) (see ``probabilities``)."""
    return probabilities(params, np.asarray(x_row, params.w_h.dtype).reshape(1, -1))[0][0]


def cell_members(probs, y_true, true, predicted):
    """Rows of the evaluated set in confusion cell (true, predicted), most confident first: (rows, confidence).

    Works for the diagonal (right answers) as well as for mistakes;
    confidence is the probability of the predicted class.
    """
    probs = np.asarray(probs)
    pred = np.argmax(probs, axis=1)
    rows = np.flatnonzero((np.asarray(y_true) == true) & (pred == predicted))
    conf = probs[rows, predicted]
    order = np.argsort(-conf, kind="stable")
    return rows[order], conf[order]


def letter_images(x):
    """Inputs (n, 784) scaled 0..1 -> (n, 28, 28) uint8 greyscale images."""
    x = np.asarray(x, np.float64).reshape(-1, SIDE, SIDE)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def upscale(img, factor):
    """Enlarge an image (H, W) or (H, W, C) by an integer factor with nearest neighbour (crisp pixels)."""
    img = np.asarray(img)
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def upscale_many(imgs, factor):
    """Enlarge a stack of images (n, H, W[, C]) by an integer factor, nearest neighbour."""
    imgs = np.asarray(imgs)
    return np.repeat(np.repeat(imgs, factor, axis=1), factor, axis=2)


def framed(imgs, margin=4, line=1, line_colour=(150, 150, 150), background=(255, 255, 255)):
    """Put each image of a stack (n, H, W) or (n, H, W, 3) uint8 in a thin frame with a margin around it,
    so that images laid side by side stay apart: -> (n, H + 2(margin + line), W + 2(margin + line), 3) uint8."""
    imgs = np.asarray(imgs, np.uint8)
    if imgs.ndim == 3:
        imgs = np.repeat(imgs[..., None], 3, axis=3)
    n, h, w, _ = imgs.shape
    b = margin + line
    out = np.empty((n, h + 2 * b, w + 2 * b, 3), np.uint8)
    out[:] = np.asarray(background, np.uint8)
    out[:, margin : h + 2 * b - margin, margin : w + 2 * b - margin] = np.asarray(line_colour, np.uint8)
    out[:, b : b + h, b : b + w] = imgs
    return out


def colour_bar(scale, width=480, height=60, low="negative", high="positive", digits=2):
    """A legend for the colour map as an RGB uint8 image (height, width, 3).

    A gradient strip from -scale (left) through 0 (white, centre) to +scale
    (right), outlined, with tick labels "-s", "0", "+s" and the words
    ``low`` / ``high`` under its ends. ``scale`` None labels the ends
    "-max|w|" / "+max|w|" (each image on its own scale).
    """
    from PIL import Image, ImageDraw

    pad, strip_h = 12, max(14, height // 3)
    strip_w = width - 2 * pad
    values = np.linspace(-1.0, 1.0, strip_w)
    img = np.full((height, width, 3), 255, np.uint8)
    img[2 : 2 + strip_h, pad : pad + strip_w] = colourise(values, 1.0)[None, :, :]
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    draw.rectangle([pad - 1, 1, pad + strip_w, 2 + strip_h], outline=(90, 90, 90))
    font = _font(max(11, int(height * 0.3)))
    if scale is None:
        left, right = "-max|w|", "+max|w|"
    else:
        left, right = f"-{scale:.{digits}g}", f"+{scale:.{digits}g}"
    y = strip_h + 6
    numbers = ((pad, left, 0.0), (width // 2, "0", 0.5), (pad + strip_w - 1, right, 1.0))
    spans = [_span(draw, font, x, text, align) for x, text, align in numbers]
    words = (((spans[0][1] + spans[1][0]) / 2, low, 0.5), ((spans[1][1] + spans[2][0]) / 2, high, 0.5))  # midway
    for x, text, align in numbers:
        draw.line([x, strip_h + 2, x, strip_h + 5], fill=(60, 60, 60))
        draw.text((x - align * draw.textlength(text, font=font), y), text, fill=(30, 30, 30), font=font)
    for x, text, align in words:  # only where they fit between the numbers
        lo, hi = _span(draw, font, x, text, align)
        if text and all(hi + 6 <= a or lo - 6 >= b for a, b in spans) and lo >= 0 and hi <= width:
            draw.text((lo, y), text, fill=(30, 30, 30), font=font)
    return np.asarray(pil)


def _span(draw, font, x, text, align):
    """(left, right) pixel extent of ``text`` drawn at x with the given alignment (0 left, 0.5 centre, 1 right)."""
    w = draw.textlength(text, font=font)
    return x - align * w, x - align * w + w


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()
