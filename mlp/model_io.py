"""Save and load trained models (and paused runs) as plain .npz files.

A model file holds the four parameter arrays ``w_h`` (F, H), ``b_h`` (1, H),
``w_o`` (H, K), ``b_o`` (1, K); the hyperparameters as a JSON string
``hyper``; the history as one array per record key (``history_epoch``,
``history_train_loss``, ...). A paused run adds the velocities ``v_w_h`` ..,
the mini-batch generator state ``rng_state`` (JSON) and the position in the
current epoch. Everything is numbers or strings, so files load with
``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from .data import DataError, _as_bytes
from .network import PARAM_NAMES, Params
from .train import RECORD_KEYS, Hyper, Trainer


@dataclass
class Model:
    params: Params
    hyper: Hyper
    history: list
    resume: dict | None = None  # velocities and position of a paused run


def _model_arrays(params, hyper, history):
    arrays = {name: np.asarray(v) for name, v in params.as_dict().items()}
    arrays["hyper"] = np.array(hyper.to_json())
    for key in RECORD_KEYS:
        arrays[f"history_{key}"] = np.array([r[key] for r in history], dtype=np.float64)
    return arrays


def save_model(file, params, hyper, history=(), **extra):
    """Write a model to a path or binary file object (np.savez_compressed)."""
    np.savez_compressed(file, **_model_arrays(params, hyper, list(history)), **extra)


def model_bytes(params, hyper, history=()):
    """The .npz file of a model as bytes (for downloads)."""
    buf = io.BytesIO()
    save_model(buf, params, hyper, history)
    return buf.getvalue()


def _history(npz):
    columns = [npz[f"history_{k}"] for k in RECORD_KEYS]
    return [
        {k: (int(v) if k == "epoch" else float(v)) for k, v in zip(RECORD_KEYS, row)} for row in zip(*columns)
    ]


def load_model(source, name="model.npz"):
    """Read a model from a path, bytes or file object; DataError if it is not one of ours."""
    data = _as_bytes(source)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            missing = [k for k in (*PARAM_NAMES, "hyper") if k not in npz.files]
            if missing:
                raise DataError(f"{name}: not a model file of this lab (missing {missing}).")
            params = Params(**{k: npz[k] for k in PARAM_NAMES})
            hyper = Hyper.from_json(str(npz["hyper"]))
            history = _history(npz) if "history_epoch" in npz.files else []
            resume = None
            if "rng_state" in npz.files:
                resume = {k: npz[k] for k in npz.files if k.startswith("v_") or k in ("order", "position", "epoch_metrics")}
                resume["rng_state"] = json.loads(str(npz["rng_state"]))
    except DataError:
        raise
    except Exception as exc:  # a damaged or foreign file: say so, do not crash the caller
        raise DataError(f"{name}: is not a readable model file ({type(exc).__name__}: {exc}).") from None
    f, h, k = params.sizes
    if params.b_h.shape != (1, h) or params.w_o.shape[0] != h or params.b_o.shape != (1, k):
        raise DataError(f"{name}: parameter shapes do not fit together: { {n: a.shape for n, a in params.as_dict().items()} }.")
    return Model(params, hyper, history, resume)


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


def load_trainer(source, x_train, y_train, x_valid, y_valid):
    """Resume a run saved by ``save_trainer`` on the same data."""
    model = load_model(source)
    if model.resume is None:
        raise DataError("this model file holds no paused run (no velocities); it can be evaluated, not resumed.")
    r = model.resume
    velocity = Params(**{k: r[f"v_{k}"] for k in PARAM_NAMES})
    trainer = Trainer(x_train, y_train, x_valid, y_valid, model.hyper, params=model.params, velocity=velocity)
    trainer.history = model.history
    trainer.batch_rng.bit_generator.state = r["rng_state"]
    trainer.order, trainer.position = r["order"].astype(np.intp), int(r["position"])
    if trainer.position:
        trainer.epoch_metrics = tuple(float(m) for m in r["epoch_metrics"])
    return trainer
