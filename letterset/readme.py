"""``data/README.md``: the template ``README.template.md`` filled with the build's own counts.

The template holds every sentence; this module only computes the fields
(``readme_fields``) and joins the blocks (``render_readme``), so the README
always matches the data it describes.
"""

from __future__ import annotations

import collections
import os
import re
import sys
from pathlib import Path

import numpy as np

from .filtering import DUP_RMS, JUNK_FOLDS, JUNK_MAX_RIGHT
from .render import ALIKE_RMS

TEMPLATE = Path(__file__).with_name("README.template.md")
_BLOCK = re.compile(r"^<!-- (\w+) -->\n", re.M)


def load_template(path=TEMPLATE):
    """{block name: text} of a template file whose blocks start at lines ``<!-- name -->``.

    Text before the first block is a note for maintainers and is dropped;
    each block loses its trailing newlines ("body" keeps exactly one).
    """
    parts = _BLOCK.split(Path(path).read_text(encoding="utf-8"))
    blocks = {name: text.rstrip("\n") for name, text in zip(parts[1::2], parts[2::2])}
    blocks["body"] += "\n"
    return blocks


def versions():
    """The libraries that decide the bytes of a build: Pillow (and FreeType), fontTools, numpy, Python."""
    import PIL
    from PIL import features

    try:
        import fontTools

        ft = fontTools.version
    except ImportError:  # pragma: no cover
        ft = "?"
    return (f"Pillow {PIL.__version__} (FreeType {features.version('freetype2')}), fontTools {ft}, "
            f"numpy {np.__version__}, Python {sys.version.split()[0]}")


def readme_fields(s, seed, junk_epochs, out, provenance, versions_text):
    """The template's fields from a build summary ``s`` (the dict ``build`` returns)."""
    st = s["status"]
    return dict(
        s, npz_name=os.path.basename(out), prov_name=os.path.basename(provenance), seed=seed,
        per_letter=s["images"] // 10, npz_mib=s["npz_bytes"] / 2**20,
        no_cmap=st.get("no_cmap", 0), empty=st.get("empty", 0), notdef=st.get("notdef", 0),
        letters_alike=st.get("letters_alike", 0), unreadable=st.get("unreadable", 0) + st.get("load_error", 0),
        alike_rms=ALIKE_RMS, dup_rms=DUP_RMS, junk_folds=JUNK_FOLDS, junk_max_right=JUNK_MAX_RIGHT,
        junk_epochs=junk_epochs, versions=versions_text,
        all_faces_mib=s["clean_faces"] * 10 * s["npz_bytes"] / s["images"] / 2**20,
    )


def render_readme(s, faces, seed, junk_epochs, out, provenance, versions_text=None, template=TEMPLATE):
    """The README text for summary ``s`` and the kept ``faces`` (dicts with "licence" and "package").

    ``junk_epochs`` None: the junk filter did not run (its step is left out).
    """
    blocks = load_template(template)
    versions_text = versions() if versions_text is None else versions_text
    fields = readme_fields(s, seed, junk_epochs, out, provenance, versions_text)
    later = []
    if junk_epochs is not None:
        later.append(blocks["junk_step"])
    if s["kept_faces"] < s["clean_faces"]:
        later.append(blocks["sample_step"])
    lic_faces = collections.Counter(f["licence"] for f in faces)
    rows = [blocks["licence_row"].format(licence=lic, faces=n, images=10 * n)
            for lic, n in sorted(lic_faces.items(), key=lambda kv: (-kv[1], kv[0]))]
    pkgs = collections.Counter(f["package"] for f in faces)
    fields.update(
        later_steps="".join("\n" + step.format_map(fields) for step in later),
        licence_rows="".join("\n" + row for row in rows),
        top_packages=", ".join(f"{p} {n:,}" for p, n in pkgs.most_common(15)),
    )
    return blocks["body"].format_map(fields)


def write_readme(path, s, faces, seed, junk_epochs, out, provenance):
    """Write data/README.md from the build's own counts (see ``render_readme``)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_readme(s, faces, seed, junk_epochs, out, provenance))
