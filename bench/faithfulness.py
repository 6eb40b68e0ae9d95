"""Faithfulness of the embedded letter set (data/letters.npz) to the real notMNIST.

1. Transfer: the assignment's network (784-1000-10, mini-batch 128, lr 0.1,
   momentum 0.9, float32) trained on ALL of the shipped set, evaluated on ALL
   of the real notMNIST_small (18,724 images, read from ../shared/data/ and
   never copied into the project). Target: >= 0.89.
2. The report's recipe on the shipped set: the seed-521 split of
   ``mlp.data.split_dataset`` (10000 train / 6000 valid), full batch,
   lr 0.1, momentum 0.9, 200 epochs. Expected final valid accuracy 0.85..0.96.

    .venv/bin/python bench/faithfulness.py [--epochs 15] [--seeds 0] [--skip-report]

On 2 cores: about a minute per 15-epoch transfer run, 3-4 minutes for the
report recipe (``--report-on-real`` runs it on the real set as well).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlp.data import split_dataset  # noqa: E402
from mlp.network import predict  # noqa: E402
from mlp.train import Hyper, Trainer  # noqa: E402

LETTERS_NPZ = ROOT / "data" / "letters.npz"
REAL_NPZ = ROOT.parent / "shared" / "data" / "notMNIST_small.npz"


def load(path):
    with np.load(path, allow_pickle=False) as npz:
        return npz["images"], npz["labels"].astype(np.intp)


def flat(images):
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def transfer(epochs, seed, x_tr, y_tr, x_real, y_real, log_every=5):
    hyper = Hyper(hidden=1000, lr=0.1, momentum=0.9, epochs=epochs, batch_size=128, seed=seed,
                  dtype="float32")
    # Validation rows of the Trainer: a small slice of the real set, only for the log line.
    trainer = Trainer(x_tr, y_tr, x_real[:2000], y_real[:2000], hyper)
    t0 = time.time()
    for e in range(1, epochs + 1):
        rec = trainer.step_epoch()
        if e % log_every == 0 or e == epochs:
            acc = float(np.mean(predict(trainer.params, x_real) == y_real))
            print(f"  seed {seed} epoch {e:3d}: train acc {rec['train_acc']:.4f}  "
                  f"real notMNIST_small acc {acc:.4f}  ({time.time() - t0:.0f}s)", flush=True)
    return float(np.mean(predict(trainer.params, x_real) == y_real))


def report_recipe(images, labels, epochs=200):
    split = split_dataset(images, labels)
    hyper = Hyper(hidden=1000, lr=0.1, momentum=0.9, epochs=epochs, batch_size=None, seed=521,
                  dtype="float32")
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    t0 = time.time()
    for e in range(1, epochs + 1):
        rec = trainer.step_epoch()
        if e in (1, 10, 50, 100, 150) or e == epochs:
            print(f"  epoch {e:3d} (metrics before its update): train acc {rec['train_acc']:.4f} "
                  f"valid acc {rec['valid_acc']:.4f}  ({time.time() - t0:.0f}s)", flush=True)
    tl, ta, vl, va = trainer.evaluate()
    test_acc = float(np.mean(predict(trainer.params, split.x_test) == split.y_test))
    return ta, va, test_acc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=15, help="mini-batch epochs for the transfer run")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--report-epochs", type=int, default=200)
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("--report-on-real", action="store_true",
                    help="also run the report recipe on the real notMNIST_small, for reference")
    a = ap.parse_args(argv)

    images, labels = load(LETTERS_NPZ)
    print(f"shipped set: {len(labels)} images, per letter {np.bincount(labels, minlength=10).tolist()}")
    if not a.skip_transfer:
        if not REAL_NPZ.exists():
            print(f"real notMNIST_small not found at {REAL_NPZ}: transfer skipped")
        else:
            ri, rl = load(REAL_NPZ)
            x_real, y_real = flat(ri), rl
            x_tr = flat(images)
            print(f"transfer: train on all {len(labels)} shipped images, test on all {len(rl)} real "
                  f"notMNIST_small images; {a.epochs} epochs, mini-batch 128, lr 0.1, momentum 0.9")
            accs = [transfer(a.epochs, s, x_tr, labels, x_real, y_real) for s in a.seeds]
            for s, acc in zip(a.seeds, accs):
                print(f"TRANSFER seed {s}: accuracy on real notMNIST_small = {acc:.4f} (target >= 0.89)")
    if not a.skip_report:
        print(f"report recipe: seed-521 split, full batch, lr 0.1, momentum 0.9, {a.report_epochs} epochs")
        ta, va, te = report_recipe(images, labels, a.report_epochs)
        print(f"REPORT RECIPE: final train acc {ta:.4f}, final valid acc {va:.4f} "
              f"(expected 0.85..0.96), test acc {te:.4f}")
    if a.report_on_real and REAL_NPZ.exists():
        print("reference: the same recipe on the real notMNIST_small")
        ri, rl = load(REAL_NPZ)
        ta, va, te = report_recipe(ri, rl, a.report_epochs)
        print(f"REPORT RECIPE ON REAL notMNIST_small: final train acc {ta:.4f}, final valid acc {va:.4f}, "
              f"test acc {te:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
