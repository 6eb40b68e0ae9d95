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

Usage::

    sh data/fonts_setup.sh                      # once, as root
    python -m letterset          # data/letters.npz, data/letters_provenance.tsv.gz, data/README.md

Generator-only dependency: fontTools (``data/requirements-letters.txt``).
The same font set, library versions and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import csv
import fnmatch
import gzip
import hashlib
import io
import json
import os
import pickle
import re
import sys
import time
import zipfile

import numpy as np

LETTERS = "ABCDEFGHIJ"
SIZE = 28
RENDER_PX = 96
RENDER_VERSION = 3  # bump when the rendering changes (invalidates the cache)

FONT_ROOTS = (
    "/usr/share/fonts",
    "/usr/share/texlive/texmf-dist/fonts",
    "/usr/share/texmf/fonts",
)
FONT_EXTS = (".ttf", ".otf", ".ttc", ".otc", ".pfb", ".pfa", ".t1")
TYPE1_EXTS = (".pfb", ".pfa", ".t1")
MISSING_CODEPOINT = 0x10FFFD  # plane-16 private use: no font maps it -> .notdef

DUP_RMS = 0.03  # faces closer than this (0..1 scale, RMS over 10 letters) are copies
ALIKE_RMS = 0.02  # two letters of one face closer than this: the face is broken
JUNK_MAX_RIGHT = 3  # a face with <= 3 of 10 letters right in cross-validation is junk
JUNK_FOLDS = 5

DEFAULT_WORKDIR = "/tmp/letters_work"

# Licence short names (as normalised by ``normalise_licence``) that allow
# redistributing renders of the fonts. Everything else is left out.
ALLOWED_LICENCES = frozenset(
    {
        "OFL-1.1",
        "OFL-1.0",
        "Apache-2.0",
        "MIT",
        "BSD",
        "X11",
        "ISC",
        "public-domain",
        "CC0-1.0",
        "CC-BY",
        "CC-BY-SA",
        "Bitstream-Vera",
        "Arev",
        "GUST-Font-License",
        "LPPL",
        "GPL",
        "GPL-2",
        "GPL-2+",
        "GPL-3",
        "GPL-3+",
        "GPL-2+-with-font-exception",
        "GPL-3+-with-font-exception",
        "GPL-with-font-exception",
        "AGPL-3-with-font-exception",
        "AGPL-3+",
        "GFSL",
        "ParaType-Free-Font-License",
        "Unlicense",
        "LGPL",
        "Knuth",
        "Artistic",
        "UFL-1.0",
        "aenigma-permission",
        "other-free",
        "permissive",
    }
)


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def find_font_files(roots=FONT_ROOTS):
    """All font files under ``roots``, sorted by path, one path per real file."""
    paths = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                if name.lower().endswith(FONT_EXTS):
                    paths.append(os.path.join(dirpath, name))
    paths.sort()
    seen, out = set(), []
    for p in paths:
        real = os.path.realpath(p)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        out.append(p)
    return out


def _sfnt_faces(path):
    """[(index, set of mapped codepoints)] of a TrueType/OpenType file or collection."""
    from fontTools.ttLib import TTCollection, TTFont

    if path.lower().endswith((".ttc", ".otc")):
        coll = TTCollection(path, lazy=True)
        fonts = list(coll.fonts)
    else:
        fonts = [TTFont(path, lazy=True)]
    out = []
    for i, f in enumerate(fonts):
        try:
            cmap = f.getBestCmap() or {}
        except Exception:  # noqa: BLE001 - broken cmap: treat as empty
            cmap = {}
        out.append((i, set(cmap)))
    return out


def _type1_glyph_names(path):
    """Glyph names of a Type1 font (fontTools; falls back to scanning the decrypted
    private part when fontTools cannot parse a non-ASCII header)."""
    from fontTools.misc import eexec
    from fontTools.t1Lib import T1Font, findEncryptedChunks

    f = T1Font(path)
    try:
        f.parse()
        return set(f["CharStrings"].keys())
    except UnicodeDecodeError:
        names = set()
        for encrypted, chunk in findEncryptedChunks(f.getData()):
            if encrypted:
                plain, _ = eexec.decrypt(chunk, 55665)
                names |= {m.decode("latin-1") for m in
                          re.findall(rb"/([A-Za-z0-9._-]+)\s+\d+\s+(?:RD|-\|)\s", plain)}
        return names


def _type1_has_letters(path):
    names = _type1_glyph_names(path)
    return all(ch in names for ch in LETTERS)


def _ink_crop(font, text):
    """Render ``text`` white on black; return the crop to its ink box (uint8) or None."""
    from PIL import Image, ImageDraw

    try:
        left, top, right, bottom = font.getbbox(text)
    except Exception:  # noqa: BLE001
        return None
    w, h = right - left, bottom - top
    if w <= 0 or h <= 0 or w > 4000 or h > 4000:
        return None
    img = Image.new("L", (w + 8, h + 8), 0)
    ImageDraw.Draw(img).text((4 - left, 4 - top), text, font=font, fill=255)
    box = img.getbbox()
    if box is None:
        return None
    return np.asarray(img.crop(box))


def stretch(crop):
    """Stretch an ink crop to fill SIZE x SIZE, ignoring aspect ratio (Lanczos)."""
    from PIL import Image

    return np.asarray(
        Image.fromarray(crop).resize((SIZE, SIZE), Image.Resampling.LANCZOS), dtype=np.uint8
    )


def _same_render(a, b):
    return (
        a is not None
        and b is not None
        and a.shape == b.shape
        and float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16)))) < 2.0
    )


def render_face(path, index):
    """Render A..J of one face. Returns (status, family, style, images or None)."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(path, RENDER_PX, index=index, layout_engine=ImageFont.Layout.BASIC)
    except Exception:  # noqa: BLE001
        return "load_error", "", "", None
    try:
        family, style = font.getname()
    except Exception:  # noqa: BLE001
        family, style = "", ""
    family, style = family or "", style or ""
    notdef = _ink_crop(font, chr(MISSING_CODEPOINT))
    imgs = []
    for ch in LETTERS:
        crop = _ink_crop(font, ch)
        if crop is None or crop.max() < 128 or crop.shape[0] < 8:
            return "empty", family, style, None
        if _same_render(crop, notdef):
            return "notdef", family, style, None
        imgs.append(stretch(crop))
    imgs = np.stack(imgs)
    x = imgs.reshape(10, -1).astype(np.float32) / 255.0
    d2 = np.mean((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    d2[np.diag_indices(10)] = np.inf
    if np.sqrt(d2.min()) < ALIKE_RMS:
        return "letters_alike", family, style, imgs
    return "ok", family, style, imgs


def render_file(path):
    """All faces of one font file: list of dicts (path, index, status, family, style, images)."""
    faces = []
    try:
        if path.lower().endswith(TYPE1_EXTS):
            entries = [(0, None)]
            has = _type1_has_letters(path)
        else:
            entries = _sfnt_faces(path)
            has = None
    except Exception as exc:  # noqa: BLE001
        return [dict(path=path, index=0, status="unreadable", family="", style="",
                     images=None, error=repr(exc)[:200])]
    for index, cmap in entries:
        ok = has if cmap is None else all(ord(ch) in cmap for ch in LETTERS)
        if not ok:
            faces.append(dict(path=path, index=index, status="no_cmap", family="", style="", images=None))
            continue
        status, family, style, imgs = render_face(path, index)
        faces.append(dict(path=path, index=index, status=status, family=family, style=style, images=imgs))
    return faces


def _cache_file(workdir, path):
    st = os.stat(path)
    key = f"{RENDER_VERSION}|{path}|{st.st_size}|{int(st.st_mtime)}"
    return os.path.join(workdir, "render", hashlib.sha1(key.encode()).hexdigest() + ".pkl")


def _render_cached(args):
    workdir, path = args
    cf = _cache_file(workdir, path)
    if os.path.exists(cf):
        with open(cf, "rb") as fh:
            return pickle.load(fh)
    faces = render_file(path)
    tmp = cf + f".tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        pickle.dump(faces, fh, protocol=4)
    os.replace(tmp, cf)
    return faces


def render_all(paths, workdir, jobs=2, log=print):
    """Render every file (cached), in ``paths`` order. Returns the flat list of faces."""
    os.makedirs(os.path.join(workdir, "render"), exist_ok=True)
    out = [None] * len(paths)
    t0 = time.time()
    args = [(workdir, p) for p in paths]
    if jobs <= 1:
        results = map(_render_cached, args)
        for i, r in enumerate(results):
            out[i] = r
    else:
        with concurrent.futures.ProcessPoolExecutor(jobs) as ex:
            for i, r in enumerate(ex.map(_render_cached, args, chunksize=4)):
                out[i] = r
                if (i + 1) % 500 == 0:
                    log(f"  rendered {i + 1}/{len(paths)} files in {time.time() - t0:.0f}s")
    return [f for faces in out for f in faces]


# ---------------------------------------------------------------------------
# Provenance: package and licence
# ---------------------------------------------------------------------------


def package_owners(info_dir="/var/lib/dpkg/info"):
    """Map installed path -> Debian package, from dpkg's file lists."""
    owners = {}
    if not os.path.isdir(info_dir):
        return owners
    for name in sorted(os.listdir(info_dir)):
        if not name.endswith(".list"):
            continue
        pkg = name[: -len(".list")].split(":")[0]
        with open(os.path.join(info_dir, name), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                owners.setdefault(line.rstrip("\n"), pkg)
    return owners


def owner_of(path, owners):
    for p in (path, os.path.realpath(path)):
        if p in owners:
            return owners[p]
    return ""


_LICENCE_PATTERNS = [
    # (regex on the lower-cased name, canonical short name); first match wins
    (r"madduck-special|aenigma", "aenigma-permission"),
    (r"agpl.*(font|exception)", "AGPL-3-with-font-exception"),
    (r"^(gpl|gnu).*(font|exception)", "GPL-with-font-exception"),
    (r"^ofl-?1\.0|ofl-1\.0", "OFL-1.0"),
    (r"ofl|open.font.licen[cs]e|sil-ofl|^sil-1\.1", "OFL-1.1"),
    (r"^gfsl", "GFSL"),
    (r"paratype", "ParaType-Free-Font-License"),
    (r"^agpl-?3", "AGPL-3+"),
    (r"^unlicense", "Unlicense"),
    (r"apache", "Apache-2.0"),
    (r"bitstream|vera", "Bitstream-Vera"),
    (r"^arev", "Arev"),
    (r"gust|^gfl", "GUST-Font-License"),
    (r"lppl", "LPPL"),
    (r"^lgpl", "LGPL"),
    (r"^gpl-?2\+|^gpl-2\.0\+|^gpl2\+|^gpl-2-or-later", "GPL-2+"),
    (r"^gpl-?3\+|^gpl3\+|^gpl-3-or-later", "GPL-3+"),
    (r"^gpl-?2|^gpl2", "GPL-2"),
    (r"^gpl-?3|^gpl3", "GPL-3"),
    (r"^gpl", "GPL"),
    (r"^cc0", "CC0-1.0"),
    (r"^cc-by-sa", "CC-BY-SA"),
    (r"^cc-by-nc|^cc-by-nd|noncommercial", "CC-BY-NC-or-ND"),
    (r"^cc-by", "CC-BY"),
    (r"public[- ]?domain|^pd$", "public-domain"),
    (r"^mit|^expat", "MIT"),
    (r"^bsd", "BSD"),
    (r"^x11", "X11"),
    (r"^isc", "ISC"),
    (r"^knuth", "Knuth"),
    (r"^artistic", "Artistic"),
    (r"^ufl", "UFL-1.0"),
    (r"^other-free", "other-free"),
    (r"permissive|^unicode", "permissive"),
]


def normalise_licence(name):
    """Short canonical licence name, e.g. 'OFL-1.1', 'GPL-2+', 'LPPL'; unknowns kept as is."""
    n = name.strip().lower()
    for pat, canon in _LICENCE_PATTERNS:
        if re.search(pat, n):
            return canon
    return name.strip() or "unknown"


def _dep5_licence(text):
    """Licence of a machine-readable copyright file: the 'Files: *' stanza's, else the
    first non-debian/ Files stanza's."""
    stanzas = re.split(r"\n\s*\n", text)
    first = None
    for st in stanzas:
        fields = {}
        for m in re.finditer(r"^(Files|License):[ \t]*(.*)$", st, re.M):
            fields.setdefault(m.group(1), m.group(2).strip())
        if "Files" not in fields or "License" not in fields:
            continue
        files = fields["Files"].split()
        if all(f.startswith("debian/") for f in files if f):
            continue
        lic = fields["License"]
        if "*" in files:
            return lic
        if first is None:
            first = lic
    return first


_FREEFORM = [
    (r"SIL\s+OPEN\s+FONT\s+LICEN[SC]E|Open\s+Font\s+License|OFL", "OFL-1.1"),
    (r"Bitstream\s+Vera", "Bitstream-Vera"),
    (r"Apache\s+License", "Apache-2.0"),
    (r"font\s+exception|As\s+a\s+special\s+exception,\s+if\s+you\s+create\s+a\s+document",
     "GPL-with-font-exception"),
    (r"GNU\s+General\s+Public\s+License", "GPL"),
    (r"public\s+domain", "public-domain"),
    (r"Permission\s+is\s+hereby\s+granted,\s+free\s+of\s+charge", "MIT"),
    (r"free\s+for\s+any\s+use;\s+they\s+may\s+be\s+opened,\s+edited,\s+modified,\s+regenerated,"
     r"\s+packaged\s+and\s+redistributed", "permissive"),
    (r"License\s+to\s+copy,\s+modify,\s+and\s+distribute\s+for\s+both\s+commercial", "permissive"),
]


def package_licence(pkg, doc_dir="/usr/share/doc"):
    """Short licence name of a package, or None for TeX Live packages (per file)."""
    path = os.path.join(doc_dir, pkg, "copyright")
    if not os.path.exists(path):
        return "unknown"
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    if os.path.exists(os.path.join(doc_dir, pkg, "Licenses.gz")):
        return None
    if re.search(r"^Format:", text, re.M):
        lic = _dep5_licence(text)
        if lic:
            return normalise_licence(lic)
    for pat, canon in _FREEFORM:
        if re.search(pat, text, re.I):
            return canon
    return "unknown"


def texlive_licences(pkg, doc_dir="/usr/share/doc"):
    """[(glob, licence)] from a TeX Live package's Licenses file (paths under texmf-dist)."""
    path = os.path.join(doc_dir, pkg, "Licenses.gz")
    rules = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        lic = None
        for line in fh:
            line = line.rstrip("\n")
            m = re.match(r"^(\S+):\s*(.*)$", line)
            if m and not line.startswith("texmf"):
                toks = m.group(2).split()
                lic = " / ".join(dict.fromkeys(normalise_licence(t) for t in toks)) if toks else "unknown"
            elif line.startswith("texmf") and lic is not None:
                rules.append((line.strip(), lic))
    return rules


class LicenceLookup:
    def __init__(self):
        self._pkg = {}
        self._tl = {}

    def __call__(self, path, pkg):
        if not pkg:
            return "unknown"
        if pkg not in self._pkg:
            self._pkg[pkg] = package_licence(pkg)
        lic = self._pkg[pkg]
        if lic is not None:
            return lic
        if pkg not in self._tl:
            self._tl[pkg] = texlive_licences(pkg)
        rel = path
        if path.startswith("/usr/share/texlive/"):
            rel = path[len("/usr/share/texlive/"):]
        elif path.startswith("/usr/share/texmf/"):
            rel = "texmf-dist/" + path[len("/usr/share/texmf/"):]
        for glob, lic in self._tl[pkg]:
            if fnmatch.fnmatch(rel, glob):
                return lic
        return "unknown"


def licence_allowed(lic):
    """A licence string (possibly 'A / B' for several) is allowed if all parts are."""
    parts = [p.strip() for p in lic.split("/") if p.strip()]
    return bool(parts) and all(p in ALLOWED_LICENCES for p in parts)


# ---------------------------------------------------------------------------
# Filtering
# ---------------------------------------------------------------------------


def dedup(images, threshold=DUP_RMS, block=1024):
    """Greedy near-duplicate removal in the given order. images: (M, 10, 28, 28) uint8.

    Returns a boolean keep mask: a face is dropped when a kept earlier face is
    within RMS < threshold (pixels scaled 0..1, over all ten letters).
    """
    m = images.shape[0]
    x = images.reshape(m, -1).astype(np.float32) / 255.0
    d = x.shape[1]
    sq = np.einsum("ij,ij->i", x, x)
    limit = threshold * threshold * d
    near = [[] for _ in range(m)]  # earlier faces within the threshold
    for s in range(0, m, block):
        e = min(m, s + block)
        g = x[s:e] @ x[:e].T
        d2 = sq[s:e, None] + sq[None, :e] - 2 * g
        for r in range(e - s):
            i = s + r
            js = np.nonzero(d2[r, :i] < limit)[0]
            near[i] = js.tolist()
    keep = np.zeros(m, dtype=bool)
    for i in range(m):
        keep[i] = not any(keep[j] for j in near[i])
    return keep


def family_key(family, path):
    f = (family or "").strip().lower()
    if not f:
        f = os.path.splitext(os.path.basename(path))[0].lower()
    return f


def family_folds(families, k=JUNK_FOLDS, seed=0):
    """Fold 0..k-1 for each face, whole families together (deterministic)."""
    uniq = sorted(set(families))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(uniq))
    fold_of = {uniq[j]: int(r % k) for r, j in enumerate(order)}
    return np.array([fold_of[f] for f in families], dtype=np.int64)


def _train_predict(x_tr, y_tr, x_te, epochs, seed):
    """Train the project's MLP (784-1000-10) on x_tr and predict labels of x_te."""
    from mlp.network import predict
    from mlp.train import Hyper, Trainer

    hyper = Hyper(hidden=1000, lr=0.1, momentum=0.9, epochs=epochs, batch_size=128, seed=seed,
                  dtype="float32")
    trainer = Trainer(x_tr, y_tr, x_tr[:0], y_tr[:0], hyper)  # no validation rows needed
    for _ in range(epochs):
        trainer.step_epoch()
    return np.asarray(predict(trainer.params, x_te))


def junk_scores(images, families, epochs=10, seed=0, folds=JUNK_FOLDS, log=print):
    """Per face, how many of its 10 letters a family-split cross-validated model gets right."""
    m = images.shape[0]
    x = images.reshape(m * 10, SIZE * SIZE).astype(np.float32) / 255.0
    y = np.tile(np.arange(10, dtype=np.int64), m)
    fold = family_folds(families, folds, seed)
    right = np.zeros(m, dtype=np.int64)
    for k in range(folds):
        te_faces = np.nonzero(fold == k)[0]
        tr_mask = np.repeat(fold != k, 10)
        te_mask = np.repeat(fold == k, 10)
        t0 = time.time()
        pred = _train_predict(x[tr_mask], y[tr_mask], x[te_mask], epochs, seed + k)
        ok = (pred == y[te_mask]).reshape(-1, 10).sum(axis=1)
        right[te_faces] = ok
        log(f"  junk fold {k}: {len(te_faces)} faces, letter accuracy {ok.sum() / (10 * len(te_faces)):.3f}, "
            f"{time.time() - t0:.0f}s")
    return right


# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------

PROVENANCE_COLUMNS = ["index", "label", "letter", "face", "font_file", "face_index", "family",
                      "style", "package", "licence"]


def _read_text(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def build(workdir=DEFAULT_WORKDIR, out="data/letters.npz", provenance="data/letters_provenance.tsv.gz",
          readme="data/README.md", seed=0, jobs=2, junk=True, junk_epochs=10, max_faces=0,
          roots=FONT_ROOTS, log=print):
    t0 = time.time()
    paths = find_font_files(roots)
    log(f"{len(paths)} font files under {', '.join(r for r in roots if os.path.isdir(r))}")
    faces = render_all(paths, workdir, jobs=jobs, log=log)
    stats = collections.Counter(f["status"] for f in faces)
    log(f"{len(faces)} faces: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.items())))

    owners = package_owners()
    lic_of = LicenceLookup()
    good = []
    lic_rejected = collections.Counter()
    for f in faces:
        if f["status"] != "ok":
            continue
        pkg = owner_of(f["path"], owners)
        lic = lic_of(f["path"], pkg)
        if not licence_allowed(lic):
            lic_rejected[f"{pkg}: {lic}"] += 1
            continue
        good.append(dict(f, package=pkg, licence=lic))
    log(f"{len(good)} faces with real A..J and an allowed licence"
        + (f"; licence-rejected: {dict(lic_rejected)}" if lic_rejected else ""))

    images = np.stack([f["images"] for f in good])
    keep = dedup(images)
    uniq = [f for f, k in zip(good, keep) if k]
    images = images[keep]
    log(f"{len(uniq)} unique faces after near-duplicate removal (RMS < {DUP_RMS})")

    dropped = []
    if junk:
        families = [family_key(f["family"], f["path"]) for f in uniq]
        cache = os.path.join(workdir, f"junk_scores_{seed}_{junk_epochs}_{len(uniq)}.npy")
        digest = hashlib.sha1(images.tobytes()).hexdigest()
        if os.path.exists(cache) and _read_text(cache + ".sha1") == digest:
            right = np.load(cache)
        else:
            right = junk_scores(images, families, epochs=junk_epochs, seed=seed, log=log)
            np.save(cache, right)
            with open(cache + ".sha1", "w") as fh:
                fh.write(digest)
        is_junk = right <= JUNK_MAX_RIGHT
        dropped = [dict(f, right=int(r)) for f, r, j in zip(uniq, right, is_junk) if j]
        uniq = [f for f, j in zip(uniq, is_junk) if not j]
        images = images[~is_junk]
        log(f"{len(dropped)} junk faces dropped (<= {JUNK_MAX_RIGHT}/10 right), {len(uniq)} kept")
        with open(os.path.join(workdir, "junk_dropped.tsv"), "w") as fh:
            for f in dropped:
                fh.write(f"{f['right']}\t{f['family']}\t{f['style']}\t{f['package']}\t{f['path']}\n")

    n_clean = len(uniq)
    if max_faces and len(uniq) > max_faces:
        pick = np.sort(np.random.default_rng([seed, 1]).choice(len(uniq), max_faces, replace=False))
        uniq = [uniq[i] for i in pick]
        images = images[pick]
        log(f"{len(uniq)} of {n_clean} faces picked at random (seed {seed}) to keep the file small")

    m = len(uniq)
    all_images = images.reshape(m * 10, SIZE, SIZE)
    all_labels = np.tile(np.arange(10, dtype=np.uint8), m)
    face_of = np.repeat(np.arange(m), 10)
    perm = np.random.default_rng(seed).permutation(m * 10)
    all_images, all_labels, face_of = all_images[perm], all_labels[perm], face_of[perm]

    write_npz(out, all_images, all_labels)
    write_provenance(provenance, uniq, all_labels, face_of)
    lic_counts = collections.Counter(f["licence"] for f in uniq)
    pkg_counts = collections.Counter(f["package"] for f in uniq)
    summary = dict(
        font_files=len(paths), faces=len(faces), status=dict(stats), allowed_ok=len(good),
        unique=int(keep.sum()), junk_dropped=len(dropped), clean_faces=n_clean, max_faces=max_faces,
        kept_faces=m, images=m * 10,
        families=len({family_key(f["family"], f["path"]) for f in uniq}),
        packages=len(pkg_counts), licences=dict(lic_counts.most_common()),
        top_packages=dict(pkg_counts.most_common(20)), seconds=round(time.time() - t0),
        npz_bytes=os.path.getsize(out),
    )
    with open(os.path.join(workdir, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    if readme:
        write_readme(readme, summary, uniq, seed, junk_epochs if junk else None, out, provenance)
    log(json.dumps(summary, indent=1))
    return summary


def _versions():
    import PIL
    from PIL import features

    try:
        import fontTools

        ft = fontTools.version
    except ImportError:  # pragma: no cover
        ft = "?"
    return (f"Pillow {PIL.__version__} (FreeType {features.version('freetype2')}), fontTools {ft}, "
            f"numpy {np.__version__}, Python {sys.version.split()[0]}")


def write_readme(path, s, faces, seed, junk_epochs, out, provenance):
    """data/README.md, written from the build's own counts so it always matches the data."""
    lic_faces = collections.Counter(f["licence"] for f in faces)
    pkgs = collections.Counter(f["package"] for f in faces)
    st = s["status"]
    npz_name, prov_name = os.path.basename(out), os.path.basename(provenance)
    lines = [
        "# Embedded letters: a notMNIST-style set rendered from free fonts",
        "",
        f"`{npz_name}` holds **{s['images']:,} images of the letters A..J from {s['kept_faces']:,} distinct "
        f"font faces** ({s['families']:,} family names, {s['packages']} Debian packages), "
        f"{s['images'] // 10:,} per letter: every kept face gives all ten letters. It is in the course's "
        "format: `images` (N, 28, 28) uint8, white glyph on black, and `labels` (N,) uint8, 0..9 = A..J, "
        f"written compressed ({s['npz_bytes'] / 2**20:.1f} MiB). The rows are shuffled (seed {seed}); the app "
        "and the CLI split it the way the report splits notMNIST.",
        "",
        "notMNIST itself was made by rendering A..J from thousands of public fonts; this set is made the "
        "same way from the free fonts of Debian's font packages, so the project works on a machine without "
        "the real data. `bench/faithfulness.py` measures how well a network trained on it does on the real "
        "notMNIST_small.",
        "",
        "## How it was made (`letterset/generator.py`)",
        "",
        f"1. Fonts: {s['font_files']:,} TrueType/OpenType/Type1 files ({s['faces']:,} faces) from about 200 "
        "Latin, decorative and handwriting `fonts-*` packages and `texlive-fonts-extra` "
        "(`data/fonts_setup.sh`), in path order.",
        "2. Each face: fontTools checks that A..J are in its character map (Type1: its glyph list); Pillow "
        "renders each letter white on black at 96 px; the ink box is cropped and **stretched to fill 28x28, "
        "ignoring aspect ratio** (Lanczos), as in notMNIST. Rejected: "
        f"{st.get('no_cmap', 0):,} faces without A..J in the character map, {st.get('empty', 0):,} with an "
        f"empty or tiny render, {st.get('notdef', 0):,} drawing the missing-glyph box (same render as an "
        f"unmapped codepoint), {st.get('letters_alike', 0):,} whose letters look alike (two letters within "
        f"RMS {ALIKE_RMS}), {st.get('unreadable', 0) + st.get('load_error', 0):,} unreadable. "
        f"{s['allowed_ok']:,} faces passed (all with an allowed licence).",
        f"3. Near-duplicates removed: a face within RMS {DUP_RMS} (pixels scaled 0..1, over the ten letters) "
        f"of an earlier kept face is dropped (the same font ships in several packages and formats): "
        f"{s['unique']:,} unique faces.",
    ]
    if junk_epochs is not None:
        lines.append(
            f"4. Junk removed: a {JUNK_FOLDS}-fold cross-validation split by font family (784-1000-10 MLP of "
            f"`mlp.train`, mini-batch 128, lr 0.1, momentum 0.9, {junk_epochs} epochs) flags faces with "
            f"<= {JUNK_MAX_RIGHT} of 10 letters right: {s['junk_dropped']} dropped (dingbats, symbol and "
            f"ornament fonts, flags, Cherokee/Inuit/Phaistos mapped onto A..J), {s['clean_faces']:,} kept.")
    if s["kept_faces"] < s["clean_faces"]:
        lines.append(
            f"5. To keep the file small, {s['kept_faces']:,} of these {s['clean_faces']:,} faces are picked at "
            f"random (seed {seed}); `--max-faces 0` ships all {s['clean_faces']:,} "
            f"(about {s['clean_faces'] * 10 * s['npz_bytes'] / s['images'] / 2**20:.0f} MiB).")
    lines += [
        "",
        f"Provenance: `{prov_name}` (tab-separated, gzip) has one row per image, in the same order: `index`, "
        "`label`, `letter`, `face` (face number), `font_file`, `face_index` (in a collection), `family`, "
        "`style`, `package` (Debian package owning the file) and `licence` (short name, from "
        "`/usr/share/doc/<package>/copyright`; for TeX Live packages from the per-package list in its "
        "`Licenses` file, several names joined by ` / ` when a TeX Live package lists several).",
        "",
        "## Regenerate",
        "",
        "```sh",
        "sh data/fonts_setup.sh                                 # as root; Debian 12; ~900 MB download",
        ".venv/bin/pip install -r data/requirements-letters.txt  # fontTools, generator only",
        f".venv/bin/python -m letterset --seed {seed}            # writes data/{npz_name}, "
        f"data/{prov_name}, data/README.md",
        "```",
        "",
        "Renders are cached in `/tmp/letters_work` (`--workdir`); the first run takes 10 to 15 minutes "
        "on 2 cores. The same font packages, library versions and seed give the same bytes; this build used "
        f"{_versions()}. The junk filter trains in float32, so on another machine's BLAS a face on the "
        "border of the 3-of-10 rule could flip.",
        "",
        "## Licences",
        "",
        "Only fonts whose package licence allows redistribution are used (every package is from Debian main). "
        "Most are under the SIL Open Font License, which, like the font exceptions of the GPL fonts, does "
        "not extend to documents or images made with the fonts. fonts-aenigma (Brian Kent) carries a "
        "permission to redistribute and modify with attribution; the provenance table gives every "
        "image's font, family and package for attribution.",
        "",
        "| licence (short name) | faces | images |",
        "| --- | ---: | ---: |",
    ]
    for lic, n in sorted(lic_faces.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"| {lic} | {n:,} | {10 * n:,} |")
    lines += [
        "",
        "Faces per package (largest): "
        + ", ".join(f"{p} {n:,}" for p, n in pkgs.most_common(15)) + ".",
        "",
    ]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def write_npz(out, images, labels):
    """np.savez_compressed, but with a fixed zip timestamp so the bytes are reproducible."""
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, arr in (("images", images), ("labels", labels)):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, out)


def write_provenance(path, faces, labels, face_of):
    """One row per image (in the npz's order), gzip with mtime 0 for reproducible bytes."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(PROVENANCE_COLUMNS)
    for i, (lab, fi) in enumerate(zip(labels.tolist(), face_of.tolist())):
        f = faces[fi]
        w.writerow([i, lab, LETTERS[lab], fi, f["path"], f["index"], f["family"], f["style"],
                    f["package"], f["licence"]])
    data = buf.getvalue().encode("utf-8")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if path.endswith(".gz"):
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                    compresslevel=9) as gz:
            gz.write(data)
    else:
        with open(path, "wb") as fh:
            fh.write(data)


def read_provenance(path):
    """Rows of the provenance table as dicts (handles .tsv and .tsv.gz)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def main(argv=None):
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
    a = ap.parse_args(argv)
    log = lambda s: print(s, flush=True)  # noqa: E731
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
