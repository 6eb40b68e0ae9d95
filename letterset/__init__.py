"""The generator of the embedded letter set ``data/letters.npz`` (``python -m letterset``).

It renders A..J from Debian's free fonts, keeps the provenance and licence of
every face, drops near-duplicates and junk, and writes the set in the course
format that ``mlp.data`` reads. Not needed to run the lab.
"""
