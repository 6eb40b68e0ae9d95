"""User text shown as text: never as markdown, links, images, LaTeX or Streamlit directives.

Anything a user chose (a file name, a link value, a run's label, a display
name), and any message that quotes one (a refusal naming the file), goes
through ``plain`` before it is put into ``st.markdown``, ``st.caption``,
``st.warning`` and the like.

Why this suffices: CommonMark lets any ASCII punctuation character be escaped,
and an escaped character is never markup, so links ``[a](u)``, images
``![t](u)``, ``<http://x>``, HTML, emphasis, code, headings, lists, LaTeX
(``$x$``), Streamlit's ``:red[x]`` and ``:material/icon:`` stay literal.
Two extensions look at the text *after* escapes are undone, so escaping
cannot stop them: GitHub's bare autolinks (``http://x``, ``www.x.com``,
``a@b.c``, seen turning into links in Chromium) and emoji shortcodes
(``:smile:``). For them an invisible WORD JOINER (U+2060) is put after every
``:`` and ``@`` and before the ``.`` of ``www.``, which breaks their patterns.
``tests/test_e2e_hostile.py`` checks all of this in Chromium.
"""

from __future__ import annotations

import string

_PUNCTUATION = frozenset(string.punctuation)
_WORD_JOINER = "\u2060"
MAX_SHOWN = 200  # characters of one user string shown; the rest is cut with an ellipsis
MAX_MESSAGE = 1000  # characters of a message that quotes user text (a refusal naming the file)


def _escape(c, before):
    """One character escaped; ``before``: the text before it (for ``www.``)."""
    if c in ":@":
        return "\\" + c + _WORD_JOINER
    if c == "." and before[-3:].lower() == "www":
        return _WORD_JOINER + "\\."
    return "\\" + c if c in _PUNCTUATION else c


def plain(text, limit=MAX_SHOWN):
    """``text`` escaped for Streamlit markdown: every ASCII punctuation character gets a backslash
    (CommonMark's escape, so ``[x](y)``, ``![i](u)``, ``$x$``, ``:red[x]``, ``<b>``, ``*`` and ``http://``
    stay literal), an invisible word joiner follows every ``:`` and ``@`` and precedes the ``.`` of ``www.``
    (no bare autolink, no emoji shortcode), line breaks become spaces, and only the first ``limit``
    characters are kept."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join(_escape(c, text[max(i - 3, 0) : i]) for i, c in enumerate(text))
