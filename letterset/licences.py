"""Provenance and licences: the Debian package owning each font file and that package's licence.

The package comes from dpkg's file lists; its licence from
``/usr/share/doc/<pkg>/copyright`` (machine-readable or free-form), or, for
TeX Live packages, from the per-package ``Licenses`` file (per font file).
Only licences on ``ALLOWED_LICENCES`` go into the set.
"""

from __future__ import annotations

import fnmatch
import gzip
import os
import re

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

