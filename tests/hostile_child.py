"""One loader call on one file, in a fresh process under a 2 GiB address-space limit; prints a JSON verdict.

Used by tests/test_hostile_inputs.py: ``python tests/hostile_child.py '{"loader": ..., "path": ..., "name": ...}'``.
The verdict says whether the call returned (with a digest of what it returned) or raised ``DataError`` (with
its message) or anything else (a crash, with the traceback), the call's wall and CPU seconds, and the
process's peak resident memory (VmHWM, which a fresh process does not inherit).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

ADDRESS_SPACE = 2 * 2**30


def vmhwm_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def describe(result):
    """What a loader returned, as JSON: counts and a digest that tells two results apart."""
    from lab.your_letter import PreparedLetter
    from mlp.data import Dataset
    from mlp.model_io import Model

    if isinstance(result, Dataset):
        h = hashlib.sha256(memoryview(result.images.reshape(-1)))  # no copy: the result's own memory
        h.update(memoryview(result.labels))
        digest = h.hexdigest()
        return {"n": len(result), "skipped": result.skipped, "reasons": [list(r) for r in result.skip_reasons],
                "counts": result.class_counts().tolist(), "digest": digest}
    if isinstance(result, Model):
        return {"sizes": list(result.params.sizes), "epochs": len(result.history), "paused": result.resume is not None}
    if isinstance(result, PreparedLetter):
        return {"size": list(result.size), "digest": hashlib.sha256(result.letter.tobytes()).hexdigest()}
    return {"type": type(result).__name__, "position": getattr(result, "position", None)}


def call(spec):
    """Run the loader the spec names on the file's bytes (or path)."""
    from lab.your_letter import prepare_letter
    from mlp.data import load_bytes, load_dataset
    from mlp.model_io import load_lab_model, load_model, load_trainer

    path, name = spec["path"], spec.get("name", Path(spec["path"]).name)
    if spec["loader"] == "dataset":
        return load_dataset(path)
    data = Path(path).read_bytes()
    if spec["loader"] == "trainer":
        from helpers import frozen_split

        split = frozen_split()
        return load_trainer(data, split.x_train, split.y_train, split.x_valid, split.y_valid, name=name)
    loader = {"bytes": load_bytes, "model": load_model, "lab_model": load_lab_model, "letter": prepare_letter}
    return loader[spec["loader"]](data, name)


def flips(spec):
    """Many single-bit flips of one good file: each must be refused (DataError) or give the very same result."""
    import random

    from mlp.data import DataError, load_bytes

    good = Path(spec["path"]).read_bytes()
    want = describe(load_bytes(good, spec["name"]))
    rng, tally, odd = random.Random(spec.get("seed", 0)), {"refused": 0, "same": 0}, []
    for _ in range(spec["flips"]):
        bit = rng.randrange(len(good) * 8)
        bad = bytearray(good)
        bad[bit // 8] ^= 1 << (bit % 8)
        try:
            got = describe(load_bytes(bytes(bad), spec["name"]))
        except DataError:
            tally["refused"] += 1
            continue
        except Exception as exc:
            odd.append(f"bit {bit}: {type(exc).__name__}: {exc}")
            continue
        if got == want:
            tally["same"] += 1
        else:
            odd.append(f"bit {bit}: accepted with {got['n']} images (good file: {want['n']})")
    return {"tally": tally, "odd": odd[:10], "n_odd": len(odd)}


def main():
    spec = json.loads(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    from mlp.data import DataError

    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        verdict = {"outcome": "flips", **flips(spec)} if spec["loader"] == "flips" else {
            "outcome": "accepted", **describe(call(spec))}
    except DataError as exc:
        verdict = {"outcome": "refused", "message": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - a crash is what the test looks for
        verdict = {"outcome": "crash", "message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    verdict.update(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - cpu0, vmhwm_kib=vmhwm_kib(),
                   pid=os.getpid())
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
