"""Save and load trained models (and paused runs) as plain .npz files.

A model file holds the four parameter arrays ``w_h`` (F, H), ``b_h`` (1, H),
``w_o`` (H, K), ``b_o`` (1, K); the hyperparameters as a JSON string
``hyper``; the history as one array per record key (``history_epoch``,
``history_train_loss``, ...). A paused run adds the velocities ``v_w_h`` ..,
the mini-batch generator state ``rng_state`` (JSON) and the position in the
current epoch. A model may also keep its run's weight snapshots, stacked: ``snapshot_epoch``
(S,) and ``snapshot_w_h`` (S, F, H) .. ``snapshot_b_o`` (S, 1, K); and its gradient health, one
array per ``mlp.health.HEALTH_KEYS`` key (``health_epoch``, ``health_grad_w_h``, ...). Older files
without them load with no snapshots and no health. Everything is numbers or strings.

Loading never trusts the file: every member's .npy header is checked before
its array is allocated (``mlp.data.NpzReader``: no object arrays, so nothing
is ever unpickled), weights must be 2-D float32/float64, finite and of
fitting shapes with ``1 <= H <= mlp.limits.MAX_HIDDEN``, the history at most
``MAX_HISTORY_EPOCHS`` long, at most ``MAX_SNAPSHOTS`` snapshots shaped as the weights (finite, within
``SNAPSHOT_BYTES``), the JSON texts short and their fields of the
right types and ranges. Anything else raises ``mlp.data.DataError``.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field, fields

import numpy as np

from . import limits
from .data import DataError, limit, open_npz
from .network import PARAM_NAMES, Params
from .train import RECORD_KEYS, Hyper, Trainer

WHO = "a model file"
SHAPES = {"w_h": ("F", "H"), "b_h": (1, "H"), "w_o": ("H", "K"), "b_o": (1, "K")}  # what each parameter must be
SIZE_LIMITS = {"F": "MAX_MODEL_INPUTS", "H": "MAX_HIDDEN", "K": "MAX_MODEL_CLASSES"}
RESUME_KEYS = ("order", "position", "epoch_metrics")
SNAPSHOT_PREFIX, HEALTH_PREFIX = "snapshot_", "health_"
SHARE_KEYS = ("dead_share", "always_on_share")  # health values that are shares of the hidden units, 0 .. 1


@dataclass
class Model:
    params: Params
    hyper: Hyper
    history: list
    resume: dict | None = None  # velocities and position of a paused run
    snapshots: list = field(default_factory=list)  # (epoch, Params) of the run, epoch 0 the initial weights
    health: list = field(default_factory=list)  # per-epoch dicts of mlp.health.HEALTH_KEYS


def health_keys():
    """mlp.health.HEALTH_KEYS (imported when needed)."""
    from .health import HEALTH_KEYS

    return HEALTH_KEYS


def _model_arrays(params, hyper, history, snapshots=(), health=()):
    arrays = {name: np.asarray(v) for name, v in params.as_dict().items()}
    arrays["hyper"] = np.array(hyper.to_json())
    for key in RECORD_KEYS:
        arrays[f"history_{key}"] = np.array([r[key] for r in history], dtype=np.float64)
    if snapshots:
        epochs = np.array([int(e) for e, _ in snapshots], np.int64)
        if not _epochs_ok(epochs, 0):  # never write a file ``load_model`` refuses
            raise ValueError(f"snapshot epochs {epochs.tolist()} are not increasing whole numbers from 0")
        arrays[f"{SNAPSHOT_PREFIX}epoch"] = epochs
        for name in PARAM_NAMES:
            arrays[SNAPSHOT_PREFIX + name] = np.stack([np.asarray(getattr(p, name)) for _, p in snapshots])
    if health:
        for key in health_keys():
            arrays[HEALTH_PREFIX + key] = np.array([r[key] for r in health], dtype=np.float64)
    return arrays


def save_model(file, params, hyper, history=(), snapshots=(), health=(), **extra):
    """Write a model to a path or binary file object (np.savez_compressed), with its snapshots and health if any."""
    arrays = _model_arrays(params, hyper, list(history), list(snapshots), list(health))
    np.savez_compressed(file, **arrays, **extra)


def model_bytes(params, hyper, history=(), snapshots=(), health=()):
    """The .npz file of a model as bytes (for downloads)."""
    buf = io.BytesIO()
    save_model(buf, params, hyper, history, snapshots, health)
    return buf.getvalue()


# --- checks on the .npy headers, before any array is read -----------------------------------------------------------


def _header(npz, key, kinds, ndim, name):
    """(shape, dtype) of member ``key``, refusing other kinds of numbers or another number of dimensions."""
    shape, dtype = npz.header(key)
    wanted = {"f": "float32 or float64", "iu": "integers", "U": "text"}[kinds]
    if dtype.kind not in kinds or kinds == "f" and dtype.itemsize not in (4, 8):
        raise DataError(f"{name}: '{key}' has dtype {dtype}; it must hold {wanted}.")
    if len(shape) != ndim:
        raise DataError(f"{name}: '{key}' has shape {shape} ({len(shape)}-D); it must be {ndim}-D.")
    return shape, dtype


def check_param_headers(npz, name):
    """{"F": .., "H": .., "K": ..} from the four parameters' headers: 2-D floats of fitting shapes within the limits."""
    sizes = {}
    for key, dims in SHAPES.items():
        shape, _ = _header(npz, key, "f", 2, name)
        for dim, n in zip(dims, shape):
            if isinstance(dim, int):
                if n != dim:
                    raise DataError(f"{name}: '{key}' has shape {shape}; its first dimension must be {dim}.")
                continue
            if dim not in sizes:
                _check_size(dim, n, name)
            if sizes.setdefault(dim, n) != n:
                raise DataError(f"{name}: parameter shapes do not fit together ('{key}' is {shape}, "
                                f"{dim} = {sizes[dim]}).")
    return sizes


def _check_size(dim, n, name):
    """Refuse F, H or K outside 1 .. its limit (mlp.limits.MAX_MODEL_INPUTS, MAX_HIDDEN, MAX_MODEL_CLASSES)."""
    cap, label = limit(SIZE_LIMITS[dim])
    if not 1 <= n <= cap:
        what = {"F": "inputs", "H": "hidden units", "K": "classes"}[dim]
        raise DataError(f"{name}: the network has {n:,} {what} ({dim}); 1 to {cap:,} are accepted ({label}).")


def _text_header(npz, key, const, name):
    shape, dtype = _header(npz, key, "U", 0, name)
    cap, label = limit(const)
    if dtype.itemsize // 4 > cap:
        raise DataError(f"{name}: '{key}' is {dtype.itemsize // 4:,} characters long; the limit is {cap:,} ({label}).")


def check_history_headers(npz, name):
    """The history's length from its headers: every record key present, 1-D floats, equal lengths, within the cap."""
    return _column_headers(npz, [f"history_{k}" for k in RECORD_KEYS], "the history", name)


def _column_headers(npz, keys, what, name):
    """The common length of the per-epoch columns ``keys`` (0 if none is present), from their headers only:
    all present or none, 1-D floats, equal lengths, at most ``MAX_HISTORY_EPOCHS``."""
    present = [k for k in keys if k in npz.infos]
    if not present:
        return 0
    if len(present) != len(keys):
        raise DataError(f"{name}: {what} is incomplete (missing {sorted(set(keys) - set(present))}).")
    lengths = {_header(npz, k, "f", 1, name)[0][0] for k in keys}
    if len(lengths) != 1:
        raise DataError(f"{name}: {what}'s arrays have different lengths {sorted(lengths)}.")
    n, (cap, label) = lengths.pop(), limit("MAX_HISTORY_EPOCHS")
    if n > cap:
        raise DataError(f"{name}: {what} holds {n:,} epochs; the limit is {cap:,} ({label}).")
    return n


def check_resume_headers(npz, name, sizes):
    """Headers of a paused run: velocities shaped as the weights, ``order`` 1-D integers, ``position`` one integer."""
    for key, dims in SHAPES.items():
        shape, _ = _header(npz, f"v_{key}", "f", 2, name)
        expected = tuple(d if isinstance(d, int) else sizes[d] for d in dims)
        if shape != expected:
            raise DataError(f"{name}: 'v_{key}' has shape {shape}; it must match '{key}' {expected}.")
    (n,), _ = _header(npz, "order", "iu", 1, name)
    cap, label = limit("MAX_OWNER_IMAGES")
    if n > cap:
        raise DataError(f"{name}: 'order' holds {n:,} rows; the limit is {cap:,} ({label}).")
    _header(npz, "position", "iu", 0, name)
    (m,), _ = _header(npz, "epoch_metrics", "f", 1, name)
    if m not in (0, 4):
        raise DataError(f"{name}: 'epoch_metrics' holds {m} numbers; it must hold 0 or 4.")
    _text_header(npz, "rng_state", "MAX_RNG_STATE_CHARS", name)


def check_snapshot_headers(npz, name, sizes):
    """The number of snapshots S from their headers: ``snapshot_epoch`` (S,) integers, each parameter stacked
    (S, *its shape) in float32/float64, S <= MAX_SNAPSHOTS, all of them within SNAPSHOT_BYTES; 0 if none."""
    keys = [SNAPSHOT_PREFIX + k for k in ("epoch", *PARAM_NAMES)]
    present = [k for k in keys if k in npz.infos]
    if not present:
        return 0
    if len(present) != len(keys):
        raise DataError(f"{name}: the snapshots are incomplete (missing {sorted(set(keys) - set(present))}).")
    (n,), _ = _header(npz, keys[0], "iu", 1, name)
    cap, label = limit("MAX_SNAPSHOTS")
    if n > cap:
        raise DataError(f"{name}: the file holds {n:,} weight snapshots; the limit is {cap:,} ({label}).")
    total = 0
    for key, dims in SHAPES.items():
        shape, dtype = _header(npz, SNAPSHOT_PREFIX + key, "f", 3, name)
        expected = (n, *(d if isinstance(d, int) else sizes[d] for d in dims))
        if shape != expected:
            raise DataError(f"{name}: '{SNAPSHOT_PREFIX}{key}' has shape {shape}; with {n} snapshots of "
                            f"'{key}' it must be {expected}.")
        total += math.prod(shape) * dtype.itemsize
    cap, label = limit("SNAPSHOT_BYTES")
    if total > cap:
        raise DataError(f"{name}: its weight snapshots take {total:,} bytes; the limit is {cap:,} ({label}).")
    return n


def check_health_headers(npz, name):
    """The gradient health's length from its headers: every key present, 1-D floats, equal lengths, within the cap."""
    if not any(k.startswith(HEALTH_PREFIX) for k in npz.infos):  # (older files: mlp.health is not needed)
        return 0
    return _column_headers(npz, [HEALTH_PREFIX + k for k in health_keys()], "the gradient health", name)


# --- checks on the values -------------------------------------------------------------------------------------------


def _native(arr):
    """``arr`` in the machine's byte order (big-endian files are accepted), read-write."""
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _finite(arr, key, name):
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.isfinite(arr).sum())
        raise DataError(f"{name}: '{key}' holds {bad:,} values that are not finite numbers (NaN or infinite).")
    return arr


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v):
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


HYPER_RULES = {  # field: (test, what it must be; {NAME} is the value of mlp.limits.NAME)
    "hidden": (lambda v: _is_int(v) and 1 <= v <= limits.MAX_HIDDEN,
               "an integer 1 .. {MAX_HIDDEN:,} (mlp.limits.MAX_HIDDEN)"),
    "lr": (lambda v: _is_real(v) and 0 < v <= limits.MAX_LEARNING_RATE,
           "a number > 0 and <= {MAX_LEARNING_RATE:,} (mlp.limits.MAX_LEARNING_RATE)"),
    "momentum": (lambda v: _is_real(v) and 0 <= v < 1, "a number >= 0 and < 1"),
    "epochs": (lambda v: _is_int(v) and 1 <= v <= limits.MAX_HISTORY_EPOCHS,
               "an integer 1 .. {MAX_HISTORY_EPOCHS:,} (mlp.limits.MAX_HISTORY_EPOCHS)"),
    "batch_size": (lambda v: v is None or _is_int(v) and 1 <= v <= limits.MAX_OWNER_IMAGES,
                   "null (full batch) or an integer 1 .. {MAX_OWNER_IMAGES:,} (mlp.limits.MAX_OWNER_IMAGES)"),
    "seed": (lambda v: _is_int(v) and 0 <= v <= limits.MAX_SEED, "an integer 0 .. {MAX_SEED:,} (mlp.limits.MAX_SEED)"),
    "dtype": (lambda v: v in ("float32", "float64"), '"float32" or "float64"'),
    "init": (lambda v: v in ("seed", "report"), '"seed" or "report" (mlp.train.INITS)'),
}
OTHER_RULE = (  # any other field of Hyper: a short plain value, which Hyper itself then checks
    lambda v: v is None or isinstance(v, bool) or _is_real(v) or isinstance(v, str) and len(v) <= 64,
    "a number, true/false, null or a short text",
)


def parse_json(text, key, name):
    """A JSON object from a short text; DataError if it does not parse or is not an object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{name}: '{key}' is not valid JSON ({type(exc).__name__}).") from None
    if not isinstance(value, dict):
        raise DataError(f"{name}: '{key}' must be a JSON object, not {type(value).__name__}.")
    return value


def hyper_from_text(text, name, hidden):
    """Hyper from the file's JSON, every field checked for type and range (mlp.limits), ``hidden`` == H."""
    values = parse_json(text, "hyper", name)
    unknown = sorted(set(values) - {f.name for f in fields(Hyper)})
    if unknown:
        raise DataError(f"{name}: 'hyper' has unknown fields {unknown[:5]}.")
    for key, value in values.items():
        test, what = HYPER_RULES.get(key, OTHER_RULE)
        if not test(value):
            shown, what = str(value)[:40], what.format(**vars(limits))
            raise DataError(f"{name}: 'hyper' field {key!r} is {shown!r}; it must be {what}.")
    if values.get("hidden", hidden) != hidden:
        raise DataError(f"{name}: 'hyper' says {values['hidden']} hidden units but the weights have {hidden}.")
    try:
        return Hyper(**{"hidden": hidden, **values})
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: 'hyper' is not usable ({exc}).") from None


def history_from(columns, name):
    """Records from the history columns: epochs increasing whole numbers, accuracies in [0, 1], seconds >= 0."""
    epoch, acc = columns["epoch"], np.concatenate([columns["train_acc"], columns["valid_acc"]])
    losses, seconds = np.concatenate([columns["train_loss"], columns["valid_loss"]]), columns["seconds"]
    checks = (
        (np.isfinite(epoch).all() and (epoch >= 1).all() and (epoch == np.round(epoch)).all()
         and (np.diff(epoch) > 0).all(), "epochs must be increasing whole numbers from 1"),
        (np.isfinite(acc).all() and ((acc >= 0) & (acc <= 1)).all(), "accuracies must be within 0 .. 1"),
        (not (losses < 0).any() and not np.isneginf(losses).any(), "losses must not be negative"),
        (np.isfinite(seconds).all() and (seconds >= 0).all(), "seconds must be finite and >= 0"),
    )
    for ok, what in checks:
        if not ok:
            raise DataError(f"{name}: the history is not valid: {what}.")
    return [
        {k: (int(v) if k == "epoch" else float(v)) for k, v in zip(RECORD_KEYS, row)}
        for row in zip(*(columns[k].tolist() for k in RECORD_KEYS))
    ]


def _epochs_ok(epoch, first):
    return bool(np.isfinite(epoch).all() and (epoch >= first).all() and (epoch == np.round(epoch)).all()
                and (np.diff(epoch) > 0).all() and (epoch <= limits.MAX_HISTORY_EPOCHS).all())


def snapshots_from(npz, name):
    """[(epoch, Params)] from the snapshot members (after ``check_snapshot_headers``): epochs increasing
    whole numbers from 0, weights finite."""
    epochs = _native(npz.read(f"{SNAPSHOT_PREFIX}epoch"))
    if not _epochs_ok(epochs, 0):
        raise DataError(f"{name}: the snapshots' epochs must be increasing whole numbers from 0 "
                        f"to {limits.MAX_HISTORY_EPOCHS:,}.")
    stacks = {k: _finite(_native(npz.read(SNAPSHOT_PREFIX + k)), SNAPSHOT_PREFIX + k, name) for k in PARAM_NAMES}
    return [(int(e), Params(**{k: stacks[k][i] for k in PARAM_NAMES})) for i, e in enumerate(epochs.tolist())]


def health_from(columns, name):
    """Per-epoch health dicts from their columns: epochs increasing whole numbers from 1, norms and ratios
    not negative (NaN or +inf allowed: a diverged run), shares within 0 .. 1."""
    keys = health_keys()
    values = np.stack([columns[k] for k in keys[1:]])
    shares = np.stack([columns[k] for k in SHARE_KEYS])
    checks = (
        (_epochs_ok(columns["epoch"], 1), "epochs must be increasing whole numbers from 1"),
        (not (values < 0).any(), "gradient norms, update ratios and shares must not be negative"),
        (np.isfinite(shares).all() and (shares <= 1).all(), "the dead and always-on shares must be within 0 .. 1"),
    )
    for ok, what in checks:
        if not ok:
            raise DataError(f"{name}: the gradient health is not valid: {what}.")
    return [
        {k: (int(v) if k == "epoch" else float(v)) for k, v in zip(keys, row)}
        for row in zip(*(columns[k].tolist() for k in keys))
    ]


def rng_state_from(text, name):
    """The mini-batch generator state, checked by giving it to a fresh generator of the same kind."""
    state = parse_json(text, "rng_state", name)
    try:
        np.random.default_rng(0).bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise DataError(f"{name}: 'rng_state' is not a valid generator state ({type(exc).__name__}).") from None
    return state


def _resume(npz, name):
    """Velocities and position of a paused run, after ``check_resume_headers``."""
    resume = {f"v_{k}": _finite(_native(npz.read(f"v_{k}")), f"v_{k}", name) for k in PARAM_NAMES}
    resume.update({k: _native(npz.read(k)) for k in RESUME_KEYS})
    _finite(resume["epoch_metrics"], "epoch_metrics", name)
    order, position = resume["order"], int(resume["position"])
    if not 0 <= position <= max(len(order), 1) or position and len(resume["epoch_metrics"]) != 4:
        raise DataError(f"{name}: 'position' {position} does not fit 'order' of {len(order):,} rows.")
    resume["rng_state"] = rng_state_from(str(npz.read("rng_state")), name)
    return resume


def _read_model(npz, name):
    """Model from an open NpzReader: every header checked first, then the arrays read and their values checked."""
    missing = [k for k in (*PARAM_NAMES, "hyper") if k not in npz.infos]
    if missing:
        raise DataError(f"{name}: not a model file of this lab (missing {missing}).")
    sizes = check_param_headers(npz, name)
    _text_header(npz, "hyper", "MAX_HYPER_CHARS", name)
    check_history_headers(npz, name)
    n_snapshots, n_health = check_snapshot_headers(npz, name, sizes), check_health_headers(npz, name)
    paused = "rng_state" in npz.infos
    if paused:
        absent = [k for k in (*(f"v_{k}" for k in PARAM_NAMES), *RESUME_KEYS) if k not in npz.infos]
        if absent:
            raise DataError(f"{name}: a paused run without {absent}.")
        check_resume_headers(npz, name, sizes)
    params = Params(**{k: _finite(_native(npz.read(k)), k, name) for k in PARAM_NAMES})
    hyper = hyper_from_text(str(npz.read("hyper")), name, sizes["H"])
    history = []
    if "history_epoch" in npz.infos:
        history = history_from({k: _native(npz.read(f"history_{k}")) for k in RECORD_KEYS}, name)
    snapshots = snapshots_from(npz, name) if n_snapshots else []
    health = health_from({k: _native(npz.read(HEALTH_PREFIX + k)) for k in health_keys()}, name) if n_health else []
    return Model(params, hyper, history, _resume(npz, name) if paused else None, snapshots, health)


def load_model(source, name="model.npz"):
    """Read a model from a path, bytes or file object; DataError if it is not one of ours or breaks a limit."""
    npz = open_npz(source, name, limit("MAX_NPZ_MEMBERS"), limit("MAX_MODEL_DECODED_BYTES"), WHO,
                   limit("MAX_MODEL_FILE_BYTES"), ratio=False)
    try:
        return _read_model(npz, name)
    except DataError:
        raise
    except Exception as exc:  # a damaged file: say so, do not crash the caller
        raise DataError(f"{name}: is not a readable model file ({type(exc).__name__}: {exc}).") from None
    finally:
        npz.close()


def load_lab_model(source, name="model.npz", n_inputs=784, n_classes=10):
    """``load_model``, refusing a network that does not take 784 pixels to 10 letters (DataError)."""
    model = load_model(source, name)
    f, h, k = model.params.sizes
    if (f, k) != (n_inputs, n_classes):
        raise DataError(f"{name}: a {f}-{h}-{k} network does not fit {n_inputs} pixels and {n_classes} letters.")
    return model


def save_trainer(file, trainer):
    """Save a run mid-way (at an epoch boundary or inside one): weights, velocities, history, batch order."""
    velocity = {f"v_{k}": v for k, v in trainer.velocity.as_dict().items()}
    save_model(
        file, trainer.params, trainer.hyper, trainer.history,
        rng_state=np.array(json.dumps(trainer.batch_rng.bit_generator.state)),
        order=trainer.order, position=np.array(trainer.position),
        epoch_metrics=np.array(trainer.epoch_metrics if trainer.epoch_metrics is not None else [], np.float64),
        **velocity,
    )


def load_trainer(source, x_train, y_train, x_valid, y_valid, name="run.npz"):
    """Resume a run saved by ``save_trainer`` on the same data (its batch order must fit the training set)."""
    model = load_model(source, name)
    if model.resume is None:
        raise DataError(f"{name}: holds no paused run (no velocities); it can be evaluated, not resumed.")
    r, n_train = model.resume, len(x_train)
    order = r["order"]
    if len(order) not in (0, n_train) or len(order) and not np.array_equal(np.sort(order), np.arange(n_train)):
        raise DataError(f"{name}: its batch order does not fit a training set of {n_train:,} images.")
    if int(r["position"]) > n_train or model.params.sizes[0] != np.shape(x_train)[1]:
        raise DataError(f"{name}: the paused run does not fit this data set.")
    velocity = Params(**{k: r[f"v_{k}"] for k in PARAM_NAMES})
    trainer = Trainer(x_train, y_train, x_valid, y_valid, model.hyper, params=model.params, velocity=velocity)
    trainer.history = model.history
    trainer.batch_rng.bit_generator.state = r["rng_state"]
    trainer.order, trainer.position = order.astype(np.intp), int(r["position"])
    if trainer.position:
        trainer.epoch_metrics = tuple(float(m) for m in r["epoch_metrics"])
    return trainer
