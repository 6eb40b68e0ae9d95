"""Generator of the embedded notMNIST-style letter set (``data/letters.npz``).

``python -m letterset`` renders, filters and writes the set (``letterset.build``);
``--render-only`` only fills the render cache.
"""

from __future__ import annotations

import argparse
import collections
import sys

from .build import DEFAULT_WORKDIR, build
from .render import find_font_files, render_all


def parser():
    """The command line of ``python -m letterset``."""
    ap = argparse.ArgumentParser(prog="python -m letterset", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/letters.npz")
    ap.add_argument("--provenance", default="data/letters_provenance.tsv.gz")
    ap.add_argument("--readme", default="data/README.md", help="'' to skip writing it")
    ap.add_argument("--workdir", default=DEFAULT_WORKDIR, help="render cache etc. (outside the repo)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-junk-filter", action="store_true")
    ap.add_argument("--junk-epochs", type=int, default=10)
    ap.add_argument("--max-faces", type=int, default=0,
                    help="ship at most this many faces, picked at random with the seed (0: all)")
    ap.add_argument("--render-only", action="store_true", help="only fill the render cache")
    return ap


def main(argv=None):
    a = parser().parse_args(argv)

    def log(s):
        print(s, flush=True)

    if a.render_only:
        paths = find_font_files()
        log(f"{len(paths)} font files")
        faces = render_all(paths, a.workdir, jobs=a.jobs, log=log)
        log(str(collections.Counter(f["status"] for f in faces)))
        return 0
    build(workdir=a.workdir, out=a.out, provenance=a.provenance, readme=a.readme, seed=a.seed, jobs=a.jobs,
          junk=not a.no_junk_filter, junk_epochs=a.junk_epochs, max_faces=a.max_faces, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
