"""The backpropagation page's map to the course report: each formula, the report's function and the line of mlp
that computes it, and where the report's derivation differs (``lab.report_errors.BACKPROP_MISTAKES``)."""

from __future__ import annotations

import streamlit as st

from lab.explain import report_map
from lab.report_errors import BACKPROP_MISTAKES
from ui.latex import aligned, show


def report_map_section():
    st.header("Map to the report")
    lines = ["| formula | the report's function | the line of mlp that computes it |", "|---|---|---|"]
    for row in report_map():
        lines.append(f"| ${row['formula']}$ | `{row['report']}` | `{row['mlp']}` |")
    st.markdown("\n".join(lines))
    st.subheader("Where the report differs")
    st.markdown("The report's code computes the right gradients (up to the ReLU at exactly 0), but its written "
                "derivation uses the column convention (o = w_o h + b_o, h = ReLU(w_h x + b_h)) while the code uses "
                "rows (x W + b), and it differs from the code, and from a correct derivation, in "
                f"{len(BACKPROP_MISTAKES)} places. The report's line first, then the correct one.")
    for n, m in enumerate(BACKPROP_MISTAKES, 1):
        st.markdown(f"**{n}. {m.title}.** {m.why}")
        show(aligned(rf"\text{{report:}}\quad & {m.report}", rf"\text{{correct:}}\quad & {m.correct}"))
