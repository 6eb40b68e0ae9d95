"""The exercises in the assignment's order: a statement with the signature and shapes, and a starter stub."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    name: str  # the function's name (the report's and mlp's)
    title: str
    statement: str  # markdown
    stub: str  # Python source the learner starts from
    aliases: tuple = ()  # other accepted function names


def _stub(signature, doc):
    return f'import numpy as np\n\n\ndef {signature}:\n    """{doc}"""\n    raise NotImplementedError("write me")\n'


EXERCISES = (
    Exercise("relu", "1. ReLU",
             "`relu(x)`: ReLU(x) = max(x, 0), elementwise. `x`: any shape, float32 or float64; the result has the "
             "same shape. ReLU(0) = 0.",
             _stub("relu(x)", "max(x, 0) elementwise; any shape.")),
    Exercise("softmax", "2. Softmax",
             "`softmax(x)`: `x` (N, K) logits → (N, K) probabilities p_nk = exp(x_nk) / Σ_j exp(x_nj); each row "
             "sums to 1. It must work for logits up to ±1000 (exp(1000) overflows).",
             _stub("softmax(x)", "x (N, K) logits -> (N, K) probabilities, row by row.")),
    Exercise("compute_layer", "3. One layer",
             "`compute_layer(x, w, b)`: `x` (N, F_in), `w` (F_in, F_out), `b` (1, F_out) → x @ w + b, (N, F_out).",
             _stub("compute_layer(x, w, b)", "x (N, F_in) @ w (F_in, F_out) + b (1, F_out) -> (N, F_out).")),
    Exercise("average_ce", "4. Average cross-entropy",
             "`average_ce(target, prediction)`: `target` (N, K) one-hot y, `prediction` (N, K) probabilities p, "
             "some of which underflowed to exactly 0 → the number L = −(1/N) Σ_n Σ_k y_nk log p_nk.",
             _stub("average_ce(target, prediction)", "target, prediction (N, K) -> scalar loss.")),
    Exercise("grad_ce", "5. Gradient of the cross-entropy",
             "`grad_ce(target, logits)`: `target` (N, K) one-hot y, `logits` (N, K) o → (N, K), row n is "
             "dL_n/do_n = softmax(o_n) − y_n for that example's loss L_n = −Σ_k y_nk log p_nk (not averaged: "
             "backpropagation divides by N).",
             _stub("grad_ce(target, logits)", "target, logits (N, K) -> (N, K) = softmax(logits) - target.")),
    Exercise("backpropagation", "6. Backpropagation",
             "`backpropagation(prediction, target, z_h, w_o, x)` for the network z_h = x W_h + b_h, h = ReLU(z_h), "
             "o = h W_o + b_o, p = softmax(o) and the average cross-entropy L: `prediction` p (N, K), `target` y "
             "(N, K), `z_h` (N, H) hidden pre-activations, `w_o` (H, K), `x` (N, F) → the tuple "
             "(dL/dW_o (H, K), dL/db_o (1, K), dL/dW_h (F, H), dL/db_h (1, H)), averaged over the N examples. "
             "The course report's signature `backpropagation(prediction, target, o, wh, wo, x, b)` is accepted "
             "too (its `o` is z_h, `b` is b_h). At z_h = 0 exactly either derivative, 0 or 1, is accepted.",
             _stub("backpropagation(prediction, target, z_h, w_o, x)",
                   "-> (dW_o (H, K), db_o (1, K), dW_h (F, H), db_h (1, H)), averaged over N.")),
    Exercise("momentum_step", "7. The momentum update",
             "`momentum_step(w, v, grad, lr, momentum)` → `(w_new, v_new)` with v_new = momentum · v + lr · grad "
             "and w_new = w − v_new, as new arrays (the report: γ = 0.9, α = 0.1), for one parameter array.",
             _stub("momentum_step(w, v, grad, lr, momentum)", "-> (w_new, v_new).")),
    Exercise("train_epoch", "8. One training epoch",
             "`train_epoch(params, velocity, x, target, lr, momentum)`: `params` and `velocity` are dicts with "
             "'w_h' (F, H), 'b_h' (1, H), 'w_o' (H, K), 'b_o' (1, K); `x` (N, F), `target` (N, K) one-hot. One "
             "full-batch epoch as in the report: the forward pass with your `compute_layer`, `relu`, `softmax`; "
             "its loss with `average_ce`; the gradients with `backpropagation`; `momentum_step` on each of the "
             "four → `(new_params, new_velocity, loss)`, the loss being that of the forward pass before the "
             "update.",
             _stub("train_epoch(params, velocity, x, target, lr, momentum)",
                   "-> (new_params, new_velocity, loss before the update).")),
)

BY_NAME = {e.name: e for e in EXERCISES}
NAMES = tuple(e.name for e in EXERCISES)


def exercise(name):
    """The exercise called ``name`` (or by one of its aliases)."""
    for e in EXERCISES:
        if name == e.name or name in e.aliases:
            return e
    raise KeyError(f"no exercise {name!r}; the exercises are {', '.join(NAMES)}")
