"""letterset/README.template.md gives the shipped data/README.md byte for byte.

The README's counts of what was shipped (images, faces, families, packages,
licences, the file's size) are rebuilt here from data/letters.npz and its
provenance table; only the counts of the earlier stages (fonts found, faces
rejected per reason, duplicates, junk) and the library versions, which no
shipped file holds, are read back from the README itself.
"""

import re
from pathlib import Path

import pytest

from letterset.filtering import family_key
from letterset.readme import load_template, render_readme
from letterset.writing import read_provenance

DATA = Path(__file__).resolve().parents[1] / "data"
STAGES = {  # summary key: the README's words around its number
    "font_files": r"1\. Fonts: ([\d,]+) TrueType",
    "faces": r"files \(([\d,]+) faces\)",
    "no_cmap": r"Rejected: ([\d,]+) faces without",
    "empty": r"([\d,]+) with an empty or tiny render",
    "notdef": r"([\d,]+) drawing the missing-glyph box",
    "letters_alike": r"([\d,]+) whose letters look alike",
    "unreadable": r"([\d,]+) unreadable\.",
    "allowed_ok": r"([\d,]+) faces passed",
    "unique": r"([\d,]+) unique faces",
    "junk_dropped": r"right: ([\d,]+) dropped",
    "clean_faces": r"A\.\.J\), ([\d,]+) kept",
}


def shipped_summary(readme, rows):
    def number(pattern):
        found = re.search(pattern, readme)
        assert found, pattern
        return int(found.group(1).replace(",", ""))

    s = {key: number(pattern) for key, pattern in STAGES.items()}
    s["status"] = {k: s.pop(k) for k in ("no_cmap", "empty", "notdef", "letters_alike", "unreadable")}
    faces = {}
    for r in rows:  # face number -> its row; face numbers are the order the build kept them in
        faces.setdefault(int(r["face"]), r)
    kept = [faces[i] for i in sorted(faces)]
    s.update(kept_faces=len(kept), images=len(rows), packages=len({f["package"] for f in kept}),
             families=len({family_key(f["family"], f["font_file"]) for f in kept}),
             npz_bytes=(DATA / "letters.npz").stat().st_size)
    return s, kept


def test_template_gives_the_shipped_readme():
    path = DATA / "README.md"
    if not path.exists():
        pytest.skip("data/README.md not present")
    readme = path.read_text(encoding="utf-8")
    rows = read_provenance(str(DATA / "letters_provenance.tsv.gz"))
    s, kept = shipped_summary(readme, rows)
    versions = re.search(r"this build used (.+?)\. The junk filter", readme).group(1)
    text = render_readme(s, kept, 0, 10, "data/letters.npz", "data/letters_provenance.tsv.gz", versions)
    assert text == readme


def test_optional_steps_follow_the_build():
    s = dict(font_files=40, faces=41, status={"ok": 30, "no_cmap": 11}, allowed_ok=30, unique=25, junk_dropped=5,
             clean_faces=20, kept_faces=8, images=80, families=6, packages=2, npz_bytes=30_000)
    kept = [dict(licence="OFL-1.1", package="fonts-a")] * 5 + [dict(licence="MIT", package="fonts-b")] * 3
    with_junk = render_readme(s, kept, 7, 4, "o/x.npz", "o/p.tsv.gz", "V")
    assert "4. Junk removed" in with_junk and ", 4 epochs)" in with_junk
    assert "5. To keep the file small, 8 of these 20 faces are picked at random (seed 7)" in with_junk
    assert "| OFL-1.1 | 5 | 50 |\n| MIT | 3 | 30 |\n\nFaces per package (largest): fonts-a 5, fonts-b 3.\n" in with_junk
    no_junk = render_readme(dict(s, kept_faces=20, images=200), kept, 7, None, "o/x.npz", "o/p.tsv.gz", "V")
    assert "Junk removed" not in no_junk and "To keep the file small" not in no_junk
    assert "20 unique faces" not in no_junk and "25 unique faces.\n\nProvenance: `p.tsv.gz`" in no_junk
    assert "{" not in no_junk and "}" not in no_junk  # every field filled


def test_template_blocks():
    assert set(load_template()) == {"body", "junk_step", "sample_step", "licence_row"}
