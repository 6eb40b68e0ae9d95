"""Writing the set: ``letters.npz`` and the provenance table, with reproducible bytes.

Both files carry no timestamps (the zip entries are dated 1980-01-01, the
gzip header has mtime 0), so the same images give the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import zipfile

import numpy as np

from mlp.data import LETTERS

PROVENANCE_COLUMNS = ["index", "label", "letter", "face", "font_file", "face_index", "family",
                      "style", "package", "licence"]


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
