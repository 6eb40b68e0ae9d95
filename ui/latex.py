"""LaTeX for the math pages: numbers, matrices and tables as KaTeX strings, and lines fitted to the screen.

Formatting only: no math happens here, every value comes from ``mlp``. Conventions of every page: rows are
examples, so one example's o, p, y are 1 x K rows, drawn as rows (``rows_table``) under the class letters.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

GRAY = "#9aa0a6"  # entries switched off (ReLU mask 0, z_h <= 0)


def fmt(v, spec=".4f"):
    """A number as plain text for tables: format ``spec``, with inf / -inf / NaN spelled out."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "−inf"
    return format(v + 0.0, spec).replace("-", "−")  # + 0.0 turns -0.0 into 0.0


def num(v, digits=3, sci=True):
    """One number as LaTeX: fixed ``digits`` decimals; a x 10^e when it would show as 0 or is huge
    (unless ``sci`` is False: then tiny values read -0.000 / 0.000); inf / NaN spelled out."""
    v = float(v)
    if math.isnan(v):
        return r"\mathrm{NaN}"
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    if sci and v != 0 and (abs(v) < 0.5 * 10.0 ** -digits or abs(v) >= 1e6):
        mantissa, exponent = f"{v:.1e}".split("e")
        return rf"{mantissa}{{\times}}10^{{{int(exponent)}}}"
    if v == 0:
        return "0"
    return f"{v:.{digits}f}"


def mat(a, digits=3, gray=None, max_rows=12, max_cols=12):
    r"""A 1-D or 2-D array as a bmatrix, entries with ``gray`` True shown in gray.

    Larger arrays are cut to the first ``max_rows`` x ``max_cols`` entries with \cdots and \vdots.
    """
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[None, :]
    g = np.zeros(a.shape, bool) if gray is None else np.broadcast_to(np.asarray(gray, bool), a.shape)
    rows, cols = min(a.shape[0], max_rows), min(a.shape[1], max_cols)
    lines = []
    for i in range(rows):
        cells = []
        for j in range(cols):
            text = num(a[i, j], digits)
            cells.append(rf"\textcolor{{{GRAY}}}{{{text}}}" if g[i, j] else text)
        if cols < a.shape[1]:
            cells.append(r"\cdots")
        lines.append(" & ".join(cells))
    if rows < a.shape[0]:
        lines.append(" & ".join([r"\vdots"] * cols + ([r"\ddots"] if cols < a.shape[1] else [])))
    return r"\begin{bmatrix}" + r" \\ ".join(lines) + r"\end{bmatrix}"


def col(a, digits=3, gray=None):
    """A 1-D array as a column vector (bmatrix, one entry per row)."""
    a = np.asarray(a).reshape(-1, 1)
    return mat(a, digits, None if gray is None else np.asarray(gray).reshape(-1, 1), max_rows=len(a))


def row_labels(labels):
    """A gray column of labels (e.g. the class letters) to stand left of column vectors, aligned with their rows."""
    cells = r" \\ ".join(rf"\mathrm{{{v}}}" for v in labels)
    return rf"\textcolor{{{GRAY}}}{{\begin{{matrix}}{cells}\end{{matrix}}}}"


def labelled(a, row_labels, col_labels, digits=3, corner="", sci=True):
    """A 2-D array as a bordered table: column labels on top, row labels on the left (KaTeX array)."""
    a = np.asarray(a)
    head = " & ".join([corner] + [rf"\mathrm{{{c}}}" for c in col_labels])
    body = [" & ".join([rf"\mathrm{{{r}}}"] + [num(v, digits, sci) for v in row]) for r, row in zip(row_labels, a)]
    return (r"\left[\begin{array}{c|" + "r" * a.shape[1] + "}" + head + r" \\ \hline " + r" \\ ".join(body)
            + r"\end{array}\right]")


def mat_or_const(a, digits=3):
    """``mat(a)``, or 'c 1_{r x c}' when every entry is the same c (e.g. the report's starting velocities 1e-5)."""
    a = np.asarray(a)
    if a.size > 1 and np.all(a == a.flat[0]):
        return rf"{num(a.flat[0], digits)}\cdot\mathbf 1_{{{shape(a)}}}"
    return mat(a, digits)


def shape(a):
    """'N\\times H' of a 2-D array (a 1-D one counts as 1 x K)."""
    s = np.asarray(a).shape
    s = (1, s[0]) if len(s) == 1 else s
    return r"{\times}".join(str(d) for d in s)


def sym(name, a):
    """A symbol with its shape written under it: \\underset{2\\times 3}{z_h}."""
    return rf"\underset{{{shape(a)}}}{{{name}}}"


def aligned(*rows):
    """Rows of an aligned block (each row uses & once, at the = sign); each row ends in a thin space (see ``show``)."""
    return r"\begin{aligned}" + r" \\[4pt] ".join(row + r"\," for row in rows) + r"\end{aligned}"


def show(tex):
    """``st.latex`` with a thin space at the end.

    KaTeX draws matrix brackets and underbraces about 2 px past the right edge of their box; at the end of a
    formula that makes the LaTeX block 2 px wider than its content and gives it a horizontal scroll bar.
    """
    st.latex(tex + r"\,")


def rows_table(rows, col_labels, corner="", max_cols=5):
    r"""Row vectors stacked under one header of column labels (e.g. the class letters), a KaTeX array.

    rows: (label LaTeX, values (K,), digits) each; a label such as ``\mathbf p`` sits left of its row.
    More than ``max_cols`` columns are cut into two blocks (A-E above F-J for K = 10), one under the other,
    so that ten 3-decimal numbers and their labels fit a 1024-px screen with the sidebar open. Fixed
    decimals (a tiny entry reads 0.000 or -0.000, an exact 0 reads 0); a x 10^e only from 1e6 up.
    """
    k = len(col_labels)
    width = k if k <= max_cols else -(-k // 2)
    blocks = []
    for start in range(0, k, width):
        part = slice(start, start + width)
        head = " & ".join([corner] + [rf"\mathrm{{{c}}}" for c in col_labels[part]])
        body = [" & ".join([label] + [num(v, digits, sci=abs(v) >= 1e6) for v in np.asarray(values, float)[part]])
                for label, values, digits in rows]
        blocks.append(r"\begin{array}{r|" + "r" * len(col_labels[part]) + "}" + head + r" \\ \hline "
                      + r" \\[2pt] ".join(body) + r"\end{array}")
    return blocks[0] if len(blocks) == 1 else r"\begin{gathered}" + r" \\[10pt] ".join(blocks) + r"\end{gathered}"


# ---- lines that fit the screen ------------------------------------------------------------------------------

MAX_COLS = 6.5  # columns of 3-decimal numbers that fit one KaTeX line on a 1024 x 768 screen with the sidebar open


def cols(a, digits=3):
    """How many 'columns' a matrix takes on a line (4-decimal numbers are wider, 0/1 masks narrower)."""
    a = np.asarray(a)
    n = a.shape[1] if a.ndim == 2 else 1
    return n * {0: 0.6, 3: 1.0, 4: 1.2}.get(digits, 1.0)


def M(a, digits=3, gray=None):
    """(LaTeX, width) of a matrix, for ``chain`` and ``fit``."""
    return mat(a, digits, gray), cols(a, digits)


def chain(lhs, *terms, lhs_width=1.0):
    r"""Aligned rows 'lhs = t1 t2 + t3 = t4', broken before any term that would not fit in MAX_COLS.

    terms: (op, (latex, width)) with op '' (product), '+', '-', r'\odot' or '='.
    """
    rows, cur, width, first = [], rf"{lhs} &=", lhs_width, True
    for op, (tex, wd) in terms:
        if not first and width + wd > MAX_COLS:
            rows.append(cur)
            cur, width = ("&=" if op == "=" else r"&\quad " + (op or r"\cdot")), 0.0
        else:
            cur += f" {op}" if op else r"\,"
        cur += f" {tex}"
        width += wd
        first = False
    rows.append(cur)
    return aligned(*rows)


def fit(*items):
    """Pack (latex, width) items into as few LaTeX lines as fit MAX_COLS, side by side with space between."""
    lines, cur, width = [], [], 0.0
    for tex, wd in items:
        if cur and width + wd > MAX_COLS:
            lines.append(r"\qquad ".join(cur))
            cur, width = [], 0.0
        cur.append(tex)
        width += wd
    lines.append(r"\qquad ".join(cur))
    return lines
