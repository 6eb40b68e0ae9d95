"""User text shown as text: never as markdown, links, images, LaTeX or Streamlit directives.

Anything a user chose (a file name, a link value, a run's label, a display
name) goes through ``plain`` before it is put into ``st.markdown``,
``st.caption``, ``st.warning`` and the like.
"""

from __future__ import annotations

import string

_PUNCTUATION = frozenset(string.punctuation)
MAX_SHOWN = 200  # characters of one user string shown; the rest is cut with an ellipsis


def plain(text, limit=MAX_SHOWN):
    """``text`` escaped for Streamlit markdown: every ASCII punctuation character gets a backslash
    (CommonMark's escape, so ``[x](y)``, ``![i](u)``, ``$x$``, ``:red[x]``, ``<b>``, ``*`` and ``http://``
    stay literal), line breaks become spaces, and only the first ``limit`` characters are kept."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join("\\" + c if c in _PUNCTUATION else c for c in text)
