"""Generator of the embedded notMNIST-style letter set (``data/letters.npz``).

notMNIST was made by rendering the letters A..J from thousands of public
fonts. This module does the same with the free fonts of Debian's font
packages (installed by ``data/fonts_setup.sh``):

1. find every font file (TrueType/OpenType/TTC, Type1) under the font roots,
   sorted by path;
2. for each face: check with fontTools that A..J are in the character map
   (Type1: in the glyph list), render each letter white on black with Pillow
   at 96 px, crop to the ink box and *stretch* it, ignoring aspect ratio, to
   fill 28x28 (Lanczos), uint8. Reject missing glyphs (a letter rendering the
   same as an unmapped codepoint, i.e. the .notdef box), empty renders and
   faces whose letters look alike. Renders are cached per font file in the
   work directory, so later stages rerun cheaply;
3. record provenance: Debian package (dpkg's file lists) and the package's
   licence (``/usr/share/doc/<pkg>/copyright``; TeX Live packages: the
   per-package ``Licenses`` file). Only licences on an allow-list go in;
4. drop near-duplicate faces (RMS < 0.03 over the ten letters on a 0..1
   scale), keeping the first by path;
5. drop junk (dingbats, symbols, ornaments): a 5-fold cross-validated MLP,
   split by font family, flags faces with <= 3 of their 10 letters right;
6. shuffle with the seed and write ``letters.npz`` (keys ``images``
   (N,28,28) uint8, ``labels`` (N,) uint8 0..9), the provenance table
   (one row per image) and ``data/README.md``. Every clean face is shipped:
   with fewer fonts the same font's other letters sit in the training part
   and the report's recipe reads easier than on notMNIST. ``--max-faces N``
   ships a random N of them (picked with the seed) for a smaller file.

The stages live in their own modules: ``letterset.render`` (1, 2),
``letterset.licences`` (3), ``letterset.filtering`` (4, 5),
``letterset.build`` and ``letterset.writing`` (6), ``letterset.readme`` with
``letterset/README.template.md`` (the README), ``letterset.cli`` (the
command line). This module names them all in one place.

Usage::

    sh data/fonts_setup.sh                      # once, as root
    python -m letterset          # data/letters.npz, data/letters_provenance.tsv.gz, data/README.md

Generator-only dependency: fontTools (``data/requirements-letters.txt``).
The same font set, library versions and seed give the same bytes.
"""

from mlp.data import LETTERS
from mlp.data import SIDE as SIZE

from .build import DEFAULT_WORKDIR, build, licensed_faces, pick_faces, shuffled_letters, summarise, unique_faces
from .cli import main
from .filtering import DUP_RMS, JUNK_FOLDS, JUNK_MAX_RIGHT, dedup, family_folds, family_key, junk_scores
from .licences import (
    ALLOWED_LICENCES,
    LicenceLookup,
    licence_allowed,
    normalise_licence,
    owner_of,
    package_licence,
    package_owners,
    texlive_licences,
)
from .readme import render_readme, write_readme
from .render import (
    ALIKE_RMS,
    FONT_EXTS,
    FONT_ROOTS,
    MISSING_CODEPOINT,
    RENDER_PX,
    RENDER_VERSION,
    TYPE1_EXTS,
    find_font_files,
    render_all,
    render_face,
    render_file,
    stretch,
)
from .writing import PROVENANCE_COLUMNS, read_provenance, write_npz, write_provenance

__all__ = [
    "ALIKE_RMS", "ALLOWED_LICENCES", "DEFAULT_WORKDIR", "DUP_RMS", "FONT_EXTS", "FONT_ROOTS", "JUNK_FOLDS",
    "JUNK_MAX_RIGHT", "LETTERS", "MISSING_CODEPOINT", "PROVENANCE_COLUMNS", "RENDER_PX", "RENDER_VERSION", "SIZE",
    "TYPE1_EXTS", "LicenceLookup", "build", "dedup", "family_folds", "family_key", "find_font_files",
    "junk_scores", "licence_allowed", "licensed_faces", "main", "normalise_licence", "owner_of", "package_licence",
    "package_owners", "pick_faces", "read_provenance", "render_all", "render_face", "render_file", "render_readme",
    "shuffled_letters", "stretch", "summarise", "texlive_licences", "unique_faces", "write_npz", "write_provenance",
    "write_readme",
]
