"""Streamlit glue shared by the pages: cached data sets, the data-set picker, session keys.

No math lives here; it only calls ``mlp``.
"""
