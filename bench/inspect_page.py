"""Server time of the inspection page with H=1000 and a 6000-letter validation set, measured with AppTest.

Targets (issue 6): a render of the page for a model it has not seen yet
(predictions over the validation set, weight images, charts all computed)
under 1.5 s; paging through the weight grid under 0.5 s.

The data set is the real notMNIST_small when found ($MLP_LAB_DATA_DIR, or
../shared/data/notMNIST_small.npz), else a synthetic one of the same size
(18,724 images: the report's 10000 / 6000 / 2724 split). The model is a
784-1000-10 network trained for one mini-batch epoch on it, set as the
session's current model the way the training page does. Data-set loading is
done once beforehand: the app caches it per server, shared by all sessions
and pages. Times are wall-clock seconds of ``AppTest.run()`` (the script run
plus AppTest's own overhead), median of the repeats.

    python bench/inspect_page.py [--repeats 5] [--pages 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.pretrain import PRETRAINED_ENV  # noqa: E402
from mlp.data import DATA_DIR_ENV  # noqa: E402
from mlp.model_io import Model  # noqa: E402
from mlp.train import Hyper, Trainer  # noqa: E402

PAGE = str(ROOT / "pages" / "inspect.py")
REAL = ROOT.parent / "shared" / "data" / "notMNIST_small.npz"
TARGET_RENDER, TARGET_PAGE = 1.5, 0.5


def data_folder(tmp):
    """A data folder holding one 18,724-letter set: the real one linked, or a synthetic one."""
    env = os.environ.get(DATA_DIR_ENV)
    for candidate in ([Path(env) / "notMNIST_small.npz"] if env else []) + [REAL]:
        if candidate.exists():
            (tmp / "notMNIST_small.npz").symlink_to(candidate.resolve())
            return f"real notMNIST_small ({candidate})"
    rng = np.random.default_rng(0)
    n = 18724
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 * c + 3 : 2 * c + 7, 3:25] = 230
    np.savez(tmp / "letters.npz", images=images, labels=labels)
    return "synthetic 18,724 letters (no real notMNIST found)"


def train_model(split, seed):
    hyper = Hyper(hidden=1000, lr=0.05, momentum=0.9, epochs=1, batch_size=256, seed=seed)
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    trainer.run()
    return Model(trainer.params, hyper, trainer.history)


def timed_run(at):
    t0 = time.perf_counter()
    at.run()
    dt = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(at.exception)
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="models rendered cold (each a new model)")
    ap.add_argument("--pages", type=int, default=8, help="pages turned in the weight grid")
    args = ap.parse_args()

    from streamlit.testing.v1 import AppTest

    from mlp.data import load_dataset, split_dataset
    from ui.session import MODEL_KEY, CurrentModel

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = data_folder(tmp)
        os.environ[DATA_DIR_ENV] = str(tmp)
        os.environ[PRETRAINED_ENV] = str(tmp / "no-shipped-model.npz")  # only the session's model
        data_path = next(tmp.iterdir())
        dataset = load_dataset(data_path)
        split = split_dataset(dataset.images, dataset.labels)
        print(f"data: {source}; split {len(split.y_train)} / {len(split.y_valid)} / {len(split.y_test)}")
        models = [train_model(split, seed) for seed in range(args.repeats)]
        print(f"models: {args.repeats} x 784-1000-10, one mini-batch epoch each")

        def session(model):
            at = AppTest.from_file(PAGE, default_timeout=120)
            at.session_state[MODEL_KEY] = CurrentModel(model, None, "trained")
            return at

        warmup = session(models[0])
        timed_run(warmup)  # loads the data set into the server-wide cache, imports, first compile
        cold, warm, paging = [], [], []
        for model in models[1:] + models[:1]:
            at = session(model)
            if model is models[0]:
                warm.append(timed_run(at))  # a model seen before: its results come from the caches
            else:
                cold.append(timed_run(at))
                warm.append(timed_run(at))  # the same session rerun (any widget change without new work)
        at = session(models[1] if len(models) > 1 else models[0])
        timed_run(at)
        for _ in range(args.pages):
            at.button(key="wg_next").click()
            paging.append(timed_run(at))
        page_no = at.number_input(key="wg_page").value

    def line(name, times, target=None):
        med = statistics.median(times)
        verdict = "" if target is None else f" (target < {target:.1f} s: {'met' if med < target else 'NOT met'})"
        print(f"{name:<44} median {med:.3f} s  min {min(times):.3f}  max {max(times):.3f}  n={len(times)}{verdict}")

    if cold:
        line("render, new H=1000 model (cold caches)", cold, TARGET_RENDER)
    line("render, model seen before (warm caches)", warm, TARGET_RENDER)
    line(f"turn a weight-grid page (to page {page_no})", paging, TARGET_PAGE)


if __name__ == "__main__":
    main()
