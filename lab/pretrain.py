"""Train the small model the lab ships (``data/pretrained.npz``), so the inspection page works from the start.

It is trained on the embedded letters (``data/letters.npz``) with the
report's seed-521 split: the training part only, the validation part for
the history; the test part is left untouched.

The hidden weights start from the ordinary Xavier draw of ``init_params`` (``INIT_SCALE`` = 1).
Without weight decay nothing removes that random start, so each unit's picture W is the learned
part on top of noise; the file keeps weight snapshots of the run (``SHIPPED_SNAPSHOTS`` of the
trainer's, spread over it, epoch 0 the start) so the inspection page's "change since the start"
view draws W - W_0, the learned part alone. (Earlier files started at 0.1x Xavier instead, so that
W itself read as strokes; ``--init-scale`` still does that.) To keep the committed file small the
snapshots' numbers are rounded to 8 significant bits (``lab.snapshots.rounded``: under one colour
step of a picture); the final weights are kept exactly. The gradient health of the run is kept
too. The file is an ordinary model file of ``mlp.model_io`` (float32) plus one extra string array
``trained_on`` (JSON: data file name, its SHA-256, split sizes, accuracies, the snapshots' epochs).

Usage::

    python -m lab.pretrain                      # data/letters.npz -> data/pretrained.npz
    python -m lab.pretrain --data other.npz --out /tmp/model.npz --hidden 256 --epochs 10
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lab.snapshots import rounded, snapshot_epochs, thin
from mlp.data import DATA_DIR, EMBEDDED_FILE, DataError, load_dataset, split_dataset
from mlp.metrics import accuracy
from mlp.model_io import save_model
from mlp.network import init_params, predict
from mlp.train import Hyper, Trainer

PRETRAINED_FILE = "pretrained.npz"
PRETRAINED_PATH = DATA_DIR / PRETRAINED_FILE
PRETRAINED_ENV = "MLP_LAB_PRETRAINED"  # overrides PRETRAINED_PATH (tests, benchmarks)
HYPER = Hyper(hidden=512, lr=0.1, momentum=0.9, epochs=30, batch_size=128, seed=521, dtype="float32")
INIT_SCALE = 1.0  # the hidden weights start at this multiple of the Xavier draw
SHIPPED_SNAPSHOTS = 6  # weight snapshots kept in the file (of the trainer's, spread over the run)
SNAPSHOT_BITS = 8  # significant bits of the snapshots' numbers in the file


def pretrained_path():
    """The shipped model file the app uses: $MLP_LAB_PRETRAINED if set, else data/pretrained.npz."""
    return Path(os.environ.get(PRETRAINED_ENV) or PRETRAINED_PATH)


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pretrain(data_path, out_path, hyper=HYPER, init_scale=INIT_SCALE, log=print, snapshots=SHIPPED_SNAPSHOTS):
    """Train on data_path's training part and save to out_path (with ``snapshots`` weight snapshots and the
    gradient health); returns the ``trained_on`` record."""
    data_path, out_path = Path(data_path), Path(out_path)
    dataset = load_dataset(data_path)
    split = split_dataset(dataset.images, dataset.labels)
    start = init_params(split.x_train.shape[1], hyper.hidden, 10, seed=hyper.seed, dtype=np.dtype(hyper.dtype))
    start.w_h *= init_scale
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, params=start)
    t0 = time.perf_counter()

    def report(record):
        log(f"epoch {record['epoch']:3d}  train loss {record['train_loss']:.4f}  acc {record['train_acc']:.4f}  "
            f"valid acc {record['valid_acc']:.4f}")

    trainer.run(report)
    params = trainer.params.copy(np.float32)
    kept = [(e, rounded(p, SNAPSHOT_BITS)) for e, p in thin(trainer.snapshots_with_last(), snapshots)]
    info = {
        "data": data_path.name,
        "data_sha256": file_sha256(data_path),
        "images": len(dataset),
        "init_scale": init_scale,
        "split": [len(split.y_train), len(split.y_valid), len(split.y_test)],
        "train_acc": accuracy(split.y_train, predict(params, split.x_train)),
        "valid_acc": accuracy(split.y_valid, predict(params, split.x_valid)),
        "test_acc": accuracy(split.y_test, predict(params, split.x_test)),
        "seconds": round(time.perf_counter() - t0, 1),
        "snapshot_epochs": snapshot_epochs(kept),
        "snapshot_bits": SNAPSHOT_BITS,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_model(out_path, params, hyper, trainer.history, kept, trainer.health,
               trained_on=np.array(json.dumps(info, sort_keys=True)))
    log(f"saved {out_path} ({out_path.stat().st_size / 1e6:.2f} MB, {len(kept)} snapshots at epochs "
        f"{info['snapshot_epochs']}): final accuracy train {info['train_acc']:.4f}, valid {info['valid_acc']:.4f}, "
        f"test {info['test_acc']:.4f} in {info['seconds']} s")
    return info


def trained_on(path):
    """The ``trained_on`` record of a model file (dict), or None if it has none or cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return json.loads(str(npz["trained_on"])) if "trained_on" in npz.files else None
    except Exception:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lab.pretrain", description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA_DIR / EMBEDDED_FILE),
                    help="data set to train on (default: data/letters.npz)")
    ap.add_argument("--out", default=str(PRETRAINED_PATH), help="model file to write (default: data/pretrained.npz)")
    ap.add_argument("--hidden", type=int, default=HYPER.hidden)
    ap.add_argument("--epochs", type=int, default=HYPER.epochs)
    ap.add_argument("--batch-size", type=int, default=HYPER.batch_size)
    ap.add_argument("--lr", type=float, default=HYPER.lr)
    ap.add_argument("--init-scale", type=float, default=INIT_SCALE,
                    help="hidden weights start at this x the Xavier draw")
    ap.add_argument("--snapshots", type=int, default=SHIPPED_SNAPSHOTS, help="weight snapshots kept in the file")
    args = ap.parse_args(argv)
    hyper = Hyper(hidden=args.hidden, lr=args.lr, momentum=HYPER.momentum, epochs=args.epochs,
                  batch_size=args.batch_size, seed=HYPER.seed, dtype="float32")
    try:
        pretrain(args.data, args.out, hyper, args.init_scale, snapshots=max(2, args.snapshots))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
