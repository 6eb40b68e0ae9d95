"""The report's table, reproduced by the command line on the real notMNIST_small (runs in CI)."""

import re
import subprocess
import sys

import pytest

from conftest import ROOT

REPORT_TRAIN, REPORT_VALID = 0.9768, 0.9128

pytestmark = pytest.mark.slow

# Runs ``python -m mlp ...`` and prints the process's own peak resident memory (KiB) to stderr at exit.
PEAK_WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = ['mlp'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('mlp', run_name='__main__')\n"
    "finally:\n    print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def run_assignment(data_path, dtype):
    args = ["train", "--data", str(data_path), "--preset", "assignment", "--dtype", dtype]
    proc = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert len(re.findall(r"^epoch +\d+/200 ", out, re.M)) == 200  # a line per epoch
    m = re.search(r"final train accuracy ([\d.]+), validation accuracy ([\d.]+)", out)
    peak_mib = int(re.search(r"peak_kib (\d+)", proc.stderr).group(1)) / 1024
    return float(m.group(1)), float(m.group(2)), peak_mib, out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assignment_preset_reproduces_the_report(real_data_path, dtype):
    train_acc, valid_acc, peak_mib, out = run_assignment(real_data_path, dtype)
    print(f"{dtype}: train {train_acc} valid {valid_acc} peak {peak_mib:.0f} MiB")
    assert abs(train_acc - REPORT_TRAIN) <= 0.01, out[-500:]
    assert abs(valid_acc - REPORT_VALID) <= 0.01, out[-500:]
    if dtype == "float32":  # the preset's path; the memory bound
        assert peak_mib < 400
