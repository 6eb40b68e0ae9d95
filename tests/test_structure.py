"""The shape of the code: short functions, arrows that go one way, an installable library.

* No function in ``mlp/``, ``lab/``, ``ui/``, ``pages/`` or ``letterset/`` is
  longer than ``MAX_LINES`` lines (from ``def`` to its last line, decorators
  not counted).
* Imports go one way, ``pages -> ui -> lab -> mlp`` (and ``letterset -> mlp``):
  every import statement of every module is read, those inside functions too.
* ``pip install -e .`` into a fresh virtual environment makes ``import mlp,
  lab, letterset`` work from any folder.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mlp", "lab", "ui", "pages", "letterset")
MAX_LINES = 60
# package -> top-level modules its files must not import
FORBIDDEN = {
    "mlp": {"lab", "ui", "pages", "letterset", "streamlit", "app"},
    "lab": {"ui", "pages", "letterset", "streamlit", "app"},
    "ui": {"pages", "letterset", "app"},
    "letterset": {"lab", "ui", "pages", "streamlit", "app"},
}


def sources(packages=PACKAGES):
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def relative(path):
    return path.relative_to(ROOT).as_posix()


def long_functions(path, limit=MAX_LINES):
    """[(line, name, length)] of the functions and methods in ``path`` longer than ``limit`` lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [(node.lineno, node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def imported_modules(path, root=ROOT):
    """[(line, absolute dotted name)] of every import in ``path`` (relative imports resolved against its package).

    ``from a import b`` gives ``a.b`` (b may be a module or a name in a); ``from .. import app`` gives ``app``.
    """
    package = path.relative_to(root).with_suffix("").parts[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = [*base, *(node.module.split(".") if node.module else [])]
            found += [(node.lineno, ".".join([*module, alias.name])) for alias in node.names]
    return found


def test_the_checks_see_what_they_look_for(tmp_path):
    """Both source checks on a made-up mlp/ file: its 61-line function and its forbidden imports are found."""
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 1))
    sample = tmp_path / "mlp" / "sample.py"
    sample.parent.mkdir()
    sample.write_text(f"def long():\n{body}\n\n\ndef short():\n    from . import sibling\n"
                      "    from .. import app\n    import streamlit.testing\n")
    assert long_functions(sample) == []
    assert long_functions(sample, MAX_LINES - 1) == [(1, "long", MAX_LINES)]
    assert [name for _, name in imported_modules(sample, tmp_path)] == ["mlp.sibling", "app", "streamlit.testing"]


def test_no_function_is_longer_than_the_limit():
    offenders = [f"{relative(path)}:{line} {name} is {length} lines" for path in sources()
                 for line, name, length in long_functions(path)]
    assert not offenders, f"functions over {MAX_LINES} lines:\n" + "\n".join(offenders)


def test_imports_go_one_way():
    wrong = []
    for package, banned in FORBIDDEN.items():
        for path in sources([package]):
            for line, name in imported_modules(path):
                if name.split(".")[0] in banned:
                    wrong.append(f"{relative(path)}:{line} imports {name}")
    assert not wrong, "imports against pages -> ui -> lab -> mlp (letterset -> mlp):\n" + "\n".join(wrong)


def test_every_package_is_found():
    assert all((ROOT / package / "__init__.py").exists() for package in ("mlp", "lab", "ui", "letterset"))
    assert sum(1 for _ in sources()) > 20


@pytest.mark.slow
def test_pip_install_editable_in_a_fresh_venv(tmp_path):
    """``pip install -e .`` into a new venv; then ``import mlp, lab, letterset`` from another folder.

    The venv borrows the test environment's numpy and Pillow (a .pth file naming its site-packages), so
    nothing but the build backend comes from the package index; ``--no-deps`` keeps pip from fetching them.
    The project is copied first (pyproject.toml, README.md and the three packages): an editable install
    writes its ``.egg-info`` next to pyproject.toml, and the working tree stays as it is.
    """
    project = tmp_path / "project"
    for name in ("mlp", "lab", "letterset"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = [str(python), "-c", "import mlp, lab, letterset, importlib.metadata as m; "
             "print(mlp.__file__); print(m.distribution('mlp-lab').locate_file(''))"]
    before = subprocess.run(probe, cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert before.returncode != 0 and "No module named 'mlp'" in before.stderr  # not importable before
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(project)],
                             cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    after = subprocess.run(probe, cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    module_file, dist_dir = after.stdout.split()
    assert Path(module_file) == project / "mlp" / "__init__.py"
    assert Path(dist_dir).resolve() == Path(site).resolve()  # installed into the new venv, not found elsewhere
    cli = subprocess.run([str(venv / "bin" / "mlp"), "--help"], cwd=elsewhere, capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 0 and "train" in cli.stdout
