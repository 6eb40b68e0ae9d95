"""A from-scratch numpy 784-H-10 ReLU + softmax network, as in the ECE421 course report.

Modules: ``core`` (the report's helper functions), ``network`` (parameters,
forward and backward pass), ``train`` (momentum gradient descent as a stepper),
``gradcheck``, ``metrics``, ``data`` (loading, checking, splitting),
``model_io`` (save/load), ``cli`` (``python -m mlp``).
"""

from .core import (
    LETTERS,
    average_ce,
    average_ce_logits,
    backpropagation,
    compute_layer,
    grad_ce,
    log_softmax,
    one_hot,
    relu,
    relu_grad,
    softmax,
    softmax_naive,
)
from .network import Params, backward, forward, init_params, predict, predict_proba
from .train import PRESETS, Hyper, Trainer

__all__ = [
    "LETTERS", "average_ce", "average_ce_logits", "backpropagation", "compute_layer", "grad_ce",
    "log_softmax", "one_hot", "relu", "relu_grad", "softmax", "softmax_naive",
    "Params", "backward", "forward", "init_params", "predict", "predict_proba", "PRESETS", "Hyper", "Trainer",
]
