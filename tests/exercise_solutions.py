"""Correct solutions of every exercise (the graders must pass them) and a helper to make wrong ones."""

CORRECT = '''import numpy as np


def relu(x):
    return np.maximum(x, 0)


def softmax(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def compute_layer(x, w, b):
    return x @ w + b


def average_ce(target, prediction):
    p = np.maximum(prediction, np.finfo(prediction.dtype).tiny)
    return -np.sum(target * np.log(p)) / target.shape[0]


def grad_ce(target, logits):
    return softmax(logits) - target


def backpropagation(prediction, target, z_h, w_o, x):
    n = target.shape[0]
    d_o = (prediction - target) / n
    h = relu(z_h)
    dwo = h.T @ d_o
    dbo = d_o.sum(axis=0, keepdims=True)
    d_h = (d_o @ w_o.T) * (z_h > 0)
    dwh = x.T @ d_h
    dbh = d_h.sum(axis=0, keepdims=True)
    return dwo, dbo, dwh, dbh


def momentum_step(w, v, grad, lr, momentum):
    v_new = momentum * v + lr * grad
    return w - v_new, v_new


def train_epoch(params, velocity, x, target, lr, momentum):
    z_h = compute_layer(x, params["w_h"], params["b_h"])
    p = softmax(compute_layer(relu(z_h), params["w_o"], params["b_o"]))
    loss = average_ce(target, p)
    grads = backpropagation(p, target, z_h, params["w_o"], x)
    new_p, new_v = {}, {}
    for name, g in zip(("w_o", "b_o", "w_h", "b_h"), grads):
        new_p[name], new_v[name] = momentum_step(params[name], velocity[name], g, lr, momentum)
    return new_p, new_v, loss
'''


def replace(old, new, source=CORRECT):
    """CORRECT with one line changed (the line must be there)."""
    assert old in source, old
    return source.replace(old, new)
