"""The README's accuracy tables, reproduced by the command line (the slow runs are marked ``slow``; they run in CI).

Each 200-epoch run is made once per test session (module-scoped fixtures) and several tests read it.
Runs are deterministic for a fixed seed and BLAS on one machine; float32 matrix products may round
differently with another BLAS or CPU, so the README's figures are asserted within ``TOL`` = 0.002
(about 5 of the 2,724 real test images, 12 of the 6,000 validation images). The Assignment preset with
500 instead of 1000 hidden units gave 0.9749 / 0.9137 / 0.9163 (train / valid / test) on the real set:
train and test outside ``TOL``. Our figures agree with the course report's (float64, its own code) within
``REPORT_TOL`` = 0.005: the same formulas and initial weights, not the same arithmetic.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from mlp.train import PRESETS

TOL = 0.002  # the README states this tolerance
REPORT_TOL = 0.005  # and this one, against the course report's figures
REPORT_TRAIN, REPORT_VALID = 0.9768, 0.9128  # the course report's final accuracies (no test accuracy there)
README_REAL = {  # README, "Command line": final train, final validation, test accuracy on notMNIST_small
    "float32": (0.9772, 0.9152, 0.9200),
    "float64": (0.9772, 0.9148, 0.9200),
}
README_EMBEDDED = (0.9933, 0.9597, 0.9620)  # README, "Data": --preset assignment (float32) on data/letters.npz
README_FAITHFULNESS = 0.9165  # README, "Data": trained on all embedded letters, read on the real notMNIST_small
# 15 mini-batch epochs in float32 amplify rounding: reorderings of the float32 arithmetic alone (one engine for
# both dtypes) gave 0.9152, 0.9183 and 0.9165 during its refactoring, so it is asserted within 0.005.
FAITHFULNESS_TOL = 0.005
REAL_SPLIT = (10000, 6000, 2724)  # the report's split of notMNIST_small's 18,724 images

# Runs ``python -m mlp ...`` and prints the process's own peak resident memory (KiB) to stderr at exit.
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest,
# hundreds of MiB by then) into the child, so it would measure the test runner, not the training.
PEAK_WRAPPER = (
    "import re, runpy, sys\n"
    "sys.argv = ['mlp'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('mlp', run_name='__main__')\n"
    "finally:\n    status = open('/proc/self/status').read()\n"
    "    print('peak_kib', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
)


def run_assignment(data_path, dtype):
    """``python -m mlp train --preset assignment`` -> dict of what it printed: accuracies, split sizes, settings."""
    args = ["train", "--data", str(data_path), "--preset", "assignment", "--dtype", dtype]
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    final = re.search(r"final train accuracy ([\d.]+), validation accuracy ([\d.]+)", out)
    test = re.search(r"^test accuracy ([\d.]+) ", out, re.M)
    sizes = re.search(r"^train/valid/test: (\d+)/(\d+)/(\d+); (.*)$", out, re.M)
    assert final and test and sizes, out[-2000:]
    run = {"train": float(final.group(1)), "valid": float(final.group(2)), "test": float(test.group(1)),
           "split": tuple(int(sizes.group(i)) for i in (1, 2, 3)), "hyper": sizes.group(4),
           "epoch_lines": len(re.findall(r"^epoch +\d+/200 ", out, re.M)),
           "peak_mib": int(re.search(r"peak_kib (\d+)", proc.stderr).group(1)) / 1024, "out": out}
    print(f"{data_path.name} {dtype}: train {run['train']} valid {run['valid']} test {run['test']} "
          f"peak {run['peak_mib']:.0f} MiB")
    return run


@pytest.fixture(scope="module")
def real_runs(real_data_path):
    """The Assignment preset on the real notMNIST_small, float32 and float64, each run at most once."""
    cache = {}

    def get(dtype):
        if dtype not in cache:
            cache[dtype] = once(run_assignment, real_data_path, dtype)
        return cache[dtype]()

    return get


@pytest.fixture(scope="module")
def embedded_run():
    return run_assignment(ROOT / "data" / "letters.npz", "float32")


def once(fn, *args):
    """Call fn(*args) now; return a function that gives its result, or fails again with its error (never reruns it)."""
    try:
        result = fn(*args)
    except AssertionError as exc:
        message = f"the run failed (reported once, not rerun): {exc}"
        return lambda: pytest.fail(message)
    return lambda: result


def test_assignment_preset_is_the_reports_recipe():
    """Literally the report's recipe: H = 1000, alpha 0.1, gamma 0.9, 200 full-batch epochs, its initial weights."""
    p = PRESETS["assignment"]
    assert (p.hidden, p.lr, p.momentum, p.epochs, p.batch_size, p.seed) == (1000, 0.1, 0.9, 200, None, 521)
    assert p.init == "report"  # seed 521 after the report's load_data shuffle: the report's very first weights
    assert p.dtype == "float32"  # the README's first row is the float32 fast path


def assert_ran_the_recipe(run):
    """The CLI says what it ran: every epoch printed, and the settings line is the report's recipe."""
    assert run["epoch_lines"] == 200, run["out"][-500:]
    recipe = ("hidden=1000", "lr=0.1", "momentum=0.9", "epochs=200", "batch_size=None", "seed=521", "init='report'")
    for field in recipe:
        assert field in run["hyper"], (field, run["hyper"])


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assignment_preset_reproduces_the_readme_table(real_runs, dtype):
    run = real_runs(dtype)
    assert_ran_the_recipe(run)
    assert f"dtype='{dtype}'" in run["hyper"]
    assert run["split"] == REAL_SPLIT
    got = (run["train"], run["valid"], run["test"])
    want = README_REAL[dtype]
    assert all(abs(g - w) <= TOL for g, w in zip(got, want)), (dtype, got, want, TOL)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assignment_preset_matches_the_course_report(real_runs, dtype):
    """Our final train and validation accuracies against the course report's 0.9768 / 0.9128."""
    run = real_runs(dtype)
    assert abs(run["train"] - REPORT_TRAIN) <= REPORT_TOL, run["train"]
    assert abs(run["valid"] - REPORT_VALID) <= REPORT_TOL, run["valid"]


@pytest.mark.slow
def test_float32_run_stays_within_the_memory_bound(real_runs):
    assert real_runs("float32")["peak_mib"] < 400


def test_split_is_the_reports_load_data(real_data_path):
    """The split is the report's ``loadData`` line for line: global seed 521, shuffle, / 255, 10000 / 6000 / rest."""
    from mlp.data import load_dataset, split_dataset

    ds = load_dataset(real_data_path)
    state = np.random.get_state()
    try:  # the report's code, on the global stream
        np.random.seed(521)
        rand_indx = np.arange(len(ds.images))
        np.random.shuffle(rand_indx)
    finally:
        np.random.set_state(state)
    data, target = ds.images[rand_indx] / 255.0, ds.labels[rand_indx]
    want = {"train": (data[:10000], target[:10000]), "valid": (data[10000:16000], target[10000:16000]),
            "test": (data[16000:], target[16000:])}
    split = split_dataset(ds.images, ds.labels, dtype=np.float64)
    for part, (x, y) in want.items():
        got_x, got_y, rows = split.part(part)
        assert got_x.shape == (len(y), 784), part
        assert np.array_equal(got_x, x.reshape(len(y), 784)) and np.array_equal(got_y, y), part
        assert np.array_equal(ds.labels[rows], y), part


def test_fast_and_reference_paths_agree_on_real_letters(real_data_path):
    """30 full-batch epochs on a real subset: float32 losses within 1e-4 relative of float64."""
    from mlp.data import load_dataset, split_dataset
    from mlp.train import Hyper, Trainer

    ds = load_dataset(real_data_path)
    split = split_dataset(ds.images[::6], ds.labels[::6], dtype="float64")  # 3121 images: 1667/1000/454
    histories = {}
    for dtype in ("float64", "float32"):
        hyper = Hyper(hidden=100, epochs=30, dtype=dtype)
        t = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
        histories[dtype] = t.run()
    for key in ("train_loss", "valid_loss"):
        ref = [r[key] for r in histories["float64"]]
        fast = [r[key] for r in histories["float32"]]
        assert max(abs(f - r) / r for f, r in zip(fast, ref)) < 1e-4
    assert histories["float64"][-1]["valid_acc"] > 0.8


@pytest.mark.slow
def test_report_recipe_on_the_embedded_letters_gives_the_readme_figures(embedded_run):
    """The report's recipe on data/letters.npz: the README's figures (README_EMBEDDED), with a generalisation gap."""
    run = embedded_run
    assert_ran_the_recipe(run)
    assert run["split"] == (10000, 6000, 43070 - 16000)
    got = (run["train"], run["valid"], run["test"])
    assert all(abs(g - w) <= TOL for g, w in zip(got, README_EMBEDDED)), (got, README_EMBEDDED, TOL)
    assert run["valid"] < run["train"]  # a generalisation gap, as on notMNIST


@pytest.mark.slow
def test_network_trained_on_the_embedded_letters_reads_the_real_notmnist(real_data_path):
    """Faithfulness: the assignment's network trained on all shipped letters (mini-batch) reads real notMNIST_small."""
    from mlp.data import load_dataset
    from mlp.network import predict
    from mlp.train import Hyper, Trainer

    ours, real = load_dataset(ROOT / "data" / "letters.npz"), load_dataset(real_data_path)
    x = ours.images.reshape(len(ours.labels), -1).astype(np.float32) / 255
    x_real = real.images.reshape(len(real.labels), -1).astype(np.float32) / 255
    hyper = Hyper(hidden=1000, lr=0.1, momentum=0.9, epochs=15, batch_size=128, seed=0, dtype="float32")
    trainer = Trainer(x, ours.labels, x_real[:500], real.labels[:500], hyper)
    trainer.run()
    acc = float(np.mean(predict(trainer.params, x_real) == real.labels))
    print(f"trained on {len(ours.labels)} embedded letters, accuracy on {len(real.labels)} real: {acc:.4f}")
    assert abs(acc - README_FAITHFULNESS) <= FAITHFULNESS_TOL, acc
