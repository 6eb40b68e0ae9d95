"""Rendering: every font file's faces, A..J drawn white on black and stretched to 28x28.

For each face, fontTools checks that A..J are in the character map (Type1:
in the glyph list); Pillow renders each letter at ``RENDER_PX`` px, the ink
box is cropped and *stretched*, ignoring aspect ratio, to fill 28x28
(Lanczos), uint8. Missing glyphs (a letter rendering the same as an unmapped
codepoint, i.e. the .notdef box), empty renders and faces whose letters look
alike are rejected. Renders are cached per font file in the work directory.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import pickle
import re
import time

import numpy as np

from mlp.data import LETTERS, SIDE

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
ALIKE_RMS = 0.02  # two letters of one face closer than this: the face is broken


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
    """Stretch an ink crop to fill SIDE x SIDE, ignoring aspect ratio (Lanczos)."""
    from PIL import Image

    return np.asarray(
        Image.fromarray(crop).resize((SIDE, SIDE), Image.Resampling.LANCZOS), dtype=np.uint8
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
