"""The lab's Streamlit-free back-ends, beside the network library ``mlp``.

Modules: ``explain`` (every intermediate the math pages show), ``runs``
(training runs in chunks, run records), ``inspect_model`` (weight images,
unit orderings, evaluation), ``your_letter`` (an uploaded picture made
notMNIST-like), ``pretrain`` (the shipped model). Arrows go one way:
pages -> ui -> lab -> mlp.
"""
