"""Mutation check: put deliberate bugs into a copy of the project, one at a time, and show that the tests catch each.

Each mutation is a list of textual edits (file, exact old text, new text; every occurrence of the old
text in that file is replaced) and the test files (or node ids) that must then fail. The script copies
the project into a temporary folder (the committed HEAD by default, or the working tree with
``--worktree``; never ``.venv``, ignored files or real notMNIST files), runs the chosen tests once
unmutated (they must pass, or a "killed" would mean nothing), then for each mutation applies it to the
copy, runs ``pytest -x -q`` on its tests with this Python (the project's venv), and puts the file back.
The real working tree is never written.

Results: ``killed`` (a test failed, or the mutated code could not even be collected: listed), ``SURVIVED``
(every test passed: a hole in the tests), ``NOT APPLICABLE`` (an old text is no longer in its file: the
code changed, update this list), ``TIMEOUT`` or ``ERROR`` (look at it). Exit status 0 only when every
mutation was killed.

    .venv/bin/python bench/mutate.py                 # every fast mutation, on HEAD
    .venv/bin/python bench/mutate.py --worktree      # on the working tree, uncommitted changes included
    .venv/bin/python bench/mutate.py --only relu     # mutations whose name contains "relu"
    .venv/bin/python bench/mutate.py --with-e2e      # also the ones checked by browser tests (minutes each)
    .venv/bin/python bench/mutate.py --list          # the list, nothing run

Run it before resolving an issue that touches ``mlp/``; add a mutation for each bug class a review finds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    edits: tuple  # (path relative to the project, old text, new text): every occurrence of old is replaced
    tests: tuple  # pytest arguments: files, node ids, -k expressions
    e2e: bool = False  # checked by a browser test: run only with --with-e2e


# The npz reader that would unpickle: the object-dtype guards off and such an array read by numpy with pickles
# allowed; every other check of the reader (budgets, sizes, zip-bomb ratio) stays, so only a pickle test can see it.
UNPICKLING_READER = (
    ("mlp/data.py", "if dtype.hasobject:", "if False:"),
    ("mlp/data.py", 'dtype.kind not in "biufcUS"', 'dtype.kind not in "biufcUSO"'),
    ("mlp/data.py", "if header_bytes + nbytes != info.file_size:",
     "if header_bytes + nbytes != info.file_size and not dtype.hasobject:"),
    ("mlp/data.py", "        arr = np.empty(math.prod(shape), dtype)\n        with self.zf.open(info) as f:\n",
     "        if dtype.hasobject:\n            with self.zf.open(info) as f:\n"
     "                return npy_format.read_array(f, allow_pickle=True)\n"
     "        arr = np.empty(math.prod(shape), dtype)\n        with self.zf.open(info) as f:\n"),
)

MUTATIONS = (
    Mutation("data .npz loader unpickles object arrays (was allow_pickle=False -> True)", UNPICKLING_READER + (
        ("mlp/data.py", '        check_declared(npz.header("images"), npz.header("labels"), name, budget)\n', ""),),
             ("tests/test_hostile_inputs.py", "tests/test_data.py", "-k", "npz_pickle_payload or object_arrays")),
    Mutation("model .npz loader unpickles object arrays (was allow_pickle=False -> True)", UNPICKLING_READER + (
        ("mlp/model_io.py", "    shape, dtype = npz.header(key)\n",
         "    shape, dtype = npz.header(key)\n    if dtype.hasobject:\n        return shape, dtype\n"),),
             ("tests/test_hostile_inputs.py", "-k", "model_pickle_payload or paused_run_pickle_payload")),
    Mutation("ReLU mask 1[z > 0] -> 1[z >= 0] in relu_grad (which the backward pass uses)",
             (("mlp/core.py", "return np.greater(z, 0, out=out)", "return np.greater_equal(z, 0, out=out)"),),
             ("tests/test_core.py", "tests/test_gradients.py", "tests/test_train.py")),
    Mutation("ReLU mask 1[z > 0] -> 1[z >= 0] in the backward pass only (relu_grad itself right)",
             (("mlp/network.py", "mask = relu_grad(h, out=buf.mask)", "mask = np.greater_equal(h, 0, out=buf.mask)"),),
             ("tests/test_train.py", "-k", "relu_derivative_at_zero")),
    Mutation("Assignment preset: hidden units 1000 -> 500",
             (("mlp/train.py", '"assignment": Hyper(hidden=1000,', '"assignment": Hyper(hidden=500,'),),
             ("tests/test_reproduce_report.py::test_assignment_preset_is_the_reports_recipe",)),
    Mutation("your-letter verdict argmax -> argmin (page test)",
             (("ui/inspect_sections.py", "best = int(np.argmax(probs))", "best = int(np.argmin(probs))"),),
             ("tests/test_page_inspect.py", "-k", "verdict")),
    Mutation("your-letter verdict names the least probable letter (the tie check still on the most probable)",
             (("ui/inspect_sections.py", "reads it as **{LETTERS[best]}** ({probs[best]:.0%})",
               "reads it as **{LETTERS[int(np.argmin(probs))]}** ({probs[best]:.0%})"),),
             ("tests/test_page_inspect.py", "-k", "verdict")),
    Mutation("your-letter verdict names the least probable letter (browser test)",
             (("ui/inspect_sections.py", "reads it as **{LETTERS[best]}** ({probs[best]:.0%})",
               "reads it as **{LETTERS[int(np.argmin(probs))]}** ({probs[best]:.0%})"),),
             ("tests/test_e2e_inspect.py::test_model_file_loaded_in_the_sidebar",), e2e=True),
    Mutation("your-letter verdict argmax -> argmin (browser test)",
             (("ui/inspect_sections.py", "best = int(np.argmax(probs))", "best = int(np.argmin(probs))"),),
             ("tests/test_e2e_inspect.py::test_model_file_loaded_in_the_sidebar",), e2e=True),
    Mutation("gradient: delta_o = p - y without the 1/N of the average",
             (("mlp/network.py", "delta_o = (prediction - target) / (target.shape[0] if n is None else n)",
               "delta_o = (prediction - target)"),),
             ("tests/test_gradients.py", "tests/test_core.py")),
    Mutation("row blocks: each block's gradient averaged over its own rows, not the whole batch's",
             (("mlp/train.py", "return network.backward(fw.p, y, fw.h, self.params.w_o, fw.x, out=out, n=n)",
               "return network.backward(fw.p, y, fw.h, self.params.w_o, fw.x, out=out)"),),
             ("tests/test_train_blocks_health.py", "-k", "row_blocks")),
    Mutation("gradient health: a unit counted dead when it is off for some image, not for every one",
             (("mlp/train.py", "np.logical_or(alive, np.any(on, axis=-2), out=alive)",
               "np.logical_or(alive, np.all(on, axis=-2), out=alive)"),),
             ("tests/test_train_blocks_health.py", "-k", "dead_and_always_on")),
    Mutation("gradient health: the update ratio ||v|| / ||w|| without the norm of v (the gradient's instead)",
             (("mlp/health.py", 'out[f"ratio_{name}"] = norm(getattr(velocity, name)) / w',
               'out[f"ratio_{name}"] = norm(getattr(grads, name)) / w'),),
             ("tests/test_train_blocks_health.py", "-k", "health")),
    Mutation("momentum order: w -= v before v = gamma v + alpha g",
             (("mlp/train.py", "    v_new += lr * g\n    return np.subtract(w, v_new, out=w_out), v_new\n",
               "    w_new = np.subtract(w, v, out=w_out)\n    v_new += lr * g\n    return w_new, v_new\n"),),
             ("tests/test_train.py",)),
    Mutation("softmax without subtracting the row maximum",
             (("mlp/core.py", "    shifted = x - np.max(x, axis=-1, keepdims=True)\n    e = np.exp(shifted)\n",
               "    shifted = x\n    e = np.exp(shifted)\n"),),
             ("tests/test_core.py",)),
    Mutation("log-softmax without subtracting the row maximum",
             (("mlp/core.py", "    shifted = x - np.max(x, axis=-1, keepdims=True)\n    return shifted - np.log(",
               "    shifted = x\n    return shifted - np.log("),),
             ("tests/test_core.py",)),
    Mutation("split seed 521 -> 522",
             (("mlp/data.py", "SPLIT_SEED = 521", "SPLIT_SEED = 522"),),
             ("tests/test_data.py", "tests/test_reproduce_report.py::test_split_is_the_reports_load_data")),
    Mutation("split: validation and test sizes swapped (10000/2724/6000)",
             (("mlp/data.py", "REPORT_SIZES = (10000, 6000)", "REPORT_SIZES = (10000, 2724)"),),
             ("tests/test_data.py", "tests/test_reproduce_report.py::test_split_is_the_reports_load_data")),
    Mutation("cross-entropy summed, not averaged over N",
             (("mlp/core.py", "return -np.sum(target * log_softmax(logits), axis=(-2, -1)) / target.shape[-2]",
               "return -np.sum(target * log_softmax(logits), axis=(-2, -1))"),),
             ("tests/test_core.py", "tests/test_gradients.py")),
    Mutation("Xavier std sqrt(2 / (fan_in + fan_out)) -> sqrt(1 / fan_in)",
             (("mlp/network.py", "return np.sqrt(2.0 / (fan_in + fan_out))", "return np.sqrt(1.0 / fan_in)"),),
             ("tests/test_core.py", "tests/test_train.py", "tests/test_gradients.py")),
    Mutation("confusion matrix transposed (rows predicted, columns true)",
             (("mlp/metrics.py", "np.asarray(y_true) * k + np.asarray(y_pred)",
               "np.asarray(y_pred) * k + np.asarray(y_true)"),),
             ("tests/test_metrics_io.py", "tests/test_inspect_model.py")),
    Mutation("a run stopped inside the epoch after a snapshot adds its weights again under that epoch",
             (("mlp/health.py", "if snaps and snaps[-1][0] >= epoch:", "if snaps and snaps[-1][0] > epoch:"),),
             ("tests/test_train_blocks_health.py", "tests/test_sweep.py")),
    Mutation("model files written with snapshot epochs the loader refuses (no check at save)",
             (("mlp/model_io.py", "if not _epochs_ok(epochs, 0):  # never write a file ``load_model`` refuses",
               "if False:"),),
             ("tests/test_train_blocks_health.py",)),
    Mutation("sweep: the gradient health sampled at each call's own batch index, not the epoch's",
             (("mlp/sweep.py", "if first + i in self._measured:", "if i in self._measured:"),),
             ("tests/test_sweep.py",)),
)


def copy_project(dest, worktree):
    """The project into ``dest``: HEAD (git archive) or the working tree's tracked and unignored files."""
    dest.mkdir(parents=True)
    if not worktree:
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def pytest(copy, args, timeout):
    """(exit code or None on timeout, output) of ``pytest -x -q`` on ``args`` in the copy."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
        return None, out.decode(errors="replace") if isinstance(out, bytes) else out
    return proc.returncode, proc.stdout + proc.stderr


def targets(args):
    """The files and node ids among pytest arguments (options such as ``-k EXPR`` left out)."""
    out, skip = [], False
    for a in args:
        if skip or a.startswith("-"):
            skip = a in ("-k", "-m")
            continue
        out.append(a)
    return out


def apply(copy, mutation):
    """Apply the edits to the copy -> ({path: original text}, problems); if an old text is missing, none."""
    new_texts, originals, problems = {}, {}, []
    for rel, old, new in mutation.edits:
        path = (copy / rel).resolve()
        assert copy in path.parents, path  # only ever the copy
        text = new_texts.get(path) or (path.read_text(encoding="utf-8") if path.exists() else None)
        if text is None or old not in text:
            problems.append(f"{rel}: {old.strip()[:70]!r} not found")
            continue
        originals.setdefault(path, path.read_text(encoding="utf-8"))
        new_texts[path] = text.replace(old, new)
    if problems:
        return {}, problems
    for path, text in new_texts.items():
        path.write_text(text, encoding="utf-8")
    return originals, []


def verdict(code, output):
    """(result, detail) from pytest's exit code and output."""
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.M)
    if code == 1:
        why = re.search(r"^E +(.+)$", output, re.M)  # the first line of the failure
        return "killed", (failed[0] if failed else "a test failed") + (f": {why.group(1)[:90]}" if why else "")
    if code == 2:  # collection failed: the mutated code does not even import
        return "killed", "collection error: " + (failed[0] if failed else "see pytest's output")
    if code == 0:
        skipped = re.search(r"(\d+) skipped", output)
        return "SURVIVED", f"all passed{f', {skipped.group(1)} skipped' if skipped else ''}"
    if code is None:
        return "TIMEOUT", "the tests did not finish"
    return "ERROR", f"pytest exit {code}" + (": no tests ran" if code == 5 else "")


def run(mutations, copy, timeout, baseline):
    """Baseline, then every mutation; -> rows (name, result, detail, seconds)."""
    if baseline:
        tests = sorted({t for m in mutations for t in targets(m.tests)})
        t0 = time.perf_counter()
        code, output = pytest(copy, tests, timeout * 3)
        seconds = time.perf_counter() - t0
        print(f"baseline: {len(tests)} test targets unmutated, exit {code} in {seconds:.0f} s", flush=True)
        if code != 0:
            print(output[-3000:])
            raise SystemExit("the unmutated tests do not pass: fix them first (a killed mutant would mean nothing)")
    rows = []
    for m in mutations:
        t0 = time.perf_counter()
        originals, problems = apply(copy, m)
        if problems:
            rows.append((m.name, "NOT APPLICABLE", "; ".join(problems) + ": UPDATE THE MUTATION LIST", 0.0))
            print(f"!!! NOT APPLICABLE: {m.name}: {'; '.join(problems)}", flush=True)
            continue
        try:
            code, output = pytest(copy, m.tests, timeout)
        finally:
            for path, text in originals.items():
                path.write_text(text, encoding="utf-8")
        result, detail = verdict(code, output)
        rows.append((m.name, result, detail, time.perf_counter() - t0))
        print(f"{result:>14}  {m.name}  ({detail}, {rows[-1][3]:.0f} s)", flush=True)
    return rows


def table(rows):
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'mutation':<{width}} | result | caught by / why | s |", f"|{'-' * (width + 2)}|---|---|---|"]
    lines += [f"| {name:<{width}} | {result} | {detail} | {sec:.0f} |" for name, result, detail, sec in rows]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worktree", action="store_true", help="copy the working tree (uncommitted too), not HEAD")
    ap.add_argument("--only", help="run the mutations whose name contains this text")
    ap.add_argument("--with-e2e", action="store_true", help="also the mutations checked by browser tests")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for one mutation's tests")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy")
    ap.add_argument("--list", action="store_true", help="print the mutations and their tests, run nothing")
    a = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if (a.with_e2e or not m.e2e) and (not a.only or a.only.lower() in m.name.lower())]
    if a.list or not chosen:
        for m in chosen or MUTATIONS:
            print(f"{m.name}{'  [e2e]' if m.e2e else ''}\n    edits: {', '.join(e[0] for e in m.edits)}\n"
                  f"    tests: {' '.join(m.tests)}")
        return 0 if chosen else 2
    tmp = Path(tempfile.mkdtemp(prefix="mlp-mutate-")).resolve()
    copy = tmp / "main"
    try:
        copy_project(copy, a.worktree)
        shared = ROOT.parent / "shared"  # the tests read the real notMNIST file at ../shared/data
        if shared.exists():
            (tmp / "shared").symlink_to(shared)
        print(f"copy of {'the working tree' if a.worktree else 'HEAD'} in {copy}; {len(chosen)} mutations", flush=True)
        rows = run(chosen, copy, a.timeout, not a.no_baseline)
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(rows))
    bad = [r for r in rows if r[1] != "killed"]
    print(f"\n{len(rows) - len(bad)} of {len(rows)} mutations killed" + (f"; NOT killed: {len(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
