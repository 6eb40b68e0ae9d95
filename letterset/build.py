"""Building the set: render, keep licensed faces, drop copies and junk, shuffle and write.

``build`` runs the stages in order (each a function below) and returns the
build's summary (counts per stage), which ``letterset.readme`` turns into
``data/README.md``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import time

import numpy as np

from mlp.data import SIDE

from .filtering import DUP_RMS, JUNK_MAX_RIGHT, dedup, family_key, junk_scores
from .licences import LicenceLookup, licence_allowed, owner_of, package_owners
from .readme import write_readme
from .render import FONT_ROOTS, find_font_files, render_all
from .writing import write_npz, write_provenance

DEFAULT_WORKDIR = "/tmp/letters_work"


def _read_text(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def licensed_faces(faces, log=print):
    """The faces rendered "ok" whose package licence is allowed, each with its ``package`` and ``licence``."""
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
    return good


def cached_junk_scores(images, faces, workdir, seed, junk_epochs, log=print):
    """``junk_scores`` of the faces (M,), cached in the work directory under a digest of their images."""
    families = [family_key(f["family"], f["path"]) for f in faces]
    cache = os.path.join(workdir, f"junk_scores_{seed}_{junk_epochs}_{len(faces)}.npy")
    digest = hashlib.sha1(images.tobytes()).hexdigest()
    if os.path.exists(cache) and _read_text(cache + ".sha1") == digest:
        return np.load(cache)
    right = junk_scores(images, families, epochs=junk_epochs, seed=seed, log=log)
    np.save(cache, right)
    with open(cache + ".sha1", "w") as fh:
        fh.write(digest)
    return right


def drop_junk(uniq, images, workdir, seed, junk_epochs, log=print):
    """(kept faces, their images (M', 10, 28, 28), dropped faces with their ``right`` count); logs the dropped."""
    right = cached_junk_scores(images, uniq, workdir, seed, junk_epochs, log)
    is_junk = right <= JUNK_MAX_RIGHT
    dropped = [dict(f, right=int(r)) for f, r, j in zip(uniq, right, is_junk) if j]
    kept = [f for f, j in zip(uniq, is_junk) if not j]
    log(f"{len(dropped)} junk faces dropped (<= {JUNK_MAX_RIGHT}/10 right), {len(kept)} kept")
    with open(os.path.join(workdir, "junk_dropped.tsv"), "w") as fh:
        for f in dropped:
            fh.write(f"{f['right']}\t{f['family']}\t{f['style']}\t{f['package']}\t{f['path']}\n")
    return kept, images[~is_junk], dropped


def pick_faces(uniq, images, max_faces, seed, log=print):
    """At most ``max_faces`` of the faces (0: all), a random choice with the seed kept in path order."""
    if not max_faces or len(uniq) <= max_faces:
        return uniq, images
    pick = np.sort(np.random.default_rng([seed, 1]).choice(len(uniq), max_faces, replace=False))
    log(f"{max_faces} of {len(uniq)} faces picked at random (seed {seed}) to keep the file small")
    return [uniq[i] for i in pick], images[pick]


def shuffled_letters(images, seed):
    """Faces' letters (M, 10, 28, 28) -> (images (10M, 28, 28), labels (10M,) uint8, face of each image), shuffled."""
    m = len(images)
    all_images = images.reshape(m * 10, SIDE, SIDE)
    all_labels = np.tile(np.arange(10, dtype=np.uint8), m)
    face_of = np.repeat(np.arange(m), 10)
    perm = np.random.default_rng(seed).permutation(m * 10)
    return all_images[perm], all_labels[perm], face_of[perm]


def unique_faces(good, log=print):
    """(faces left after near-duplicate removal, their images (M, 10, 28, 28), the keep mask over ``good``)."""
    images = np.stack([f["images"] for f in good])
    keep = dedup(images)
    uniq = [f for f, k in zip(good, keep) if k]
    log(f"{len(uniq)} unique faces after near-duplicate removal (RMS < {DUP_RMS})")
    return uniq, images[keep], keep


def rendered_faces(roots, workdir, jobs, log=print):
    """(font files, every face rendered from them, counts per render status)."""
    paths = find_font_files(roots)
    log(f"{len(paths)} font files under {', '.join(r for r in roots if os.path.isdir(r))}")
    faces = render_all(paths, workdir, jobs=jobs, log=log)
    stats = collections.Counter(f["status"] for f in faces)
    log(f"{len(faces)} faces: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.items())))
    return paths, faces, stats


def build(workdir=DEFAULT_WORKDIR, out="data/letters.npz", provenance="data/letters_provenance.tsv.gz",
          readme="data/README.md", seed=0, jobs=2, junk=True, junk_epochs=10, max_faces=0,
          roots=FONT_ROOTS, log=print):
    """Render, filter and write the set (see the stage functions); returns the summary also kept as summary.json."""
    t0 = time.time()
    paths, faces, stats = rendered_faces(roots, workdir, jobs, log)
    good = licensed_faces(faces, log)
    uniq, images, keep = unique_faces(good, log)
    dropped = []
    if junk:
        uniq, images, dropped = drop_junk(uniq, images, workdir, seed, junk_epochs, log)
    n_clean = len(uniq)
    uniq, images = pick_faces(uniq, images, max_faces, seed, log)
    all_images, all_labels, face_of = shuffled_letters(images, seed)
    write_npz(out, all_images, all_labels)
    write_provenance(provenance, uniq, all_labels, face_of)
    counts = dict(font_files=len(paths), faces=len(faces), status=dict(stats), allowed_ok=len(good),
                  unique=int(keep.sum()), junk_dropped=len(dropped), clean_faces=n_clean, max_faces=max_faces)
    summary = summarise(counts, uniq, out, time.time() - t0)
    with open(os.path.join(workdir, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    if readme:
        write_readme(readme, summary, uniq, seed, junk_epochs if junk else None, out, provenance)
    log(json.dumps(summary, indent=1))
    return summary


def summarise(counts, kept, out, seconds):
    """The build's summary: the stage ``counts`` followed by what was shipped (faces, families, packages, licences)."""
    m = len(kept)
    lic_counts = collections.Counter(f["licence"] for f in kept)
    pkg_counts = collections.Counter(f["package"] for f in kept)
    return dict(
        counts, kept_faces=m, images=m * 10, families=len({family_key(f["family"], f["path"]) for f in kept}),
        packages=len(pkg_counts), licences=dict(lic_counts.most_common()),
        top_packages=dict(pkg_counts.most_common(20)), seconds=round(seconds), npz_bytes=os.path.getsize(out),
    )
