"""Known mistakes: one id and one hint each. A check's ``diagnosis`` is one of these ids."""

DIAGNOSES = {
    # shapes
    "wrong_shape": "The result has the wrong shape.",
    "transposed": "The result is the transpose of the expected one: check the order of the matrix product's factors "
                  "and of the .T.",
    "relu_reduces": "np.max(x, 0) is the largest entry along axis 0; the elementwise ReLU is np.maximum(x, 0).",
    "not_reduced": "The loss must be one number: sum over the classes and average over the N examples.",
    "bias_shape": "A bias gradient has shape (K,) where (1, K) is expected: sum with keepdims=True.",
    "bias_not_summed": "A bias gradient was not summed over the batch: db = 1^T delta = "
                       "delta.sum(axis=0, keepdims=True).",
    "bias_wrong_axis": "A bias gradient was summed over the wrong axis (over the units, axis=1): sum over the "
                       "examples, axis=0.",
    "wrong_order": "The four gradients come back in the wrong order: the report's order is (dW_o, db_o, dW_h, db_h).",
    # scale and sign
    "not_averaged": "Off by exactly N, the batch size: average over the N examples (divide by target.shape[0]).",
    "divided_by_n": "Off by exactly 1/N: this gradient is per example, so do not divide by N here "
                    "(backpropagation does it once).",
    "mean_over_classes": "Off by exactly K: np.mean also averages over the K classes. Sum over the classes, then "
                         "divide by N.",
    "wrong_sign": "The sign is flipped: dL/do = p - y (not y - p), and an update subtracts.",
    # axes
    "wrong_axis": "Summed over the wrong axis: each row (one example) is normalised on its own, axis=1.",
    "no_keepdims": "The row sums lost their axis: with sum(axis=1) and no keepdims=True, column j is divided by "
                   "row j's sum.",
    "whole_array": "Summed over the whole array: each row (one example) must be normalised on its own (axis=1).",
    # numerics
    "no_max_shift": "exp overflowed at logits up to +-1000 (inf / inf = nan): subtract each row's maximum first, "
                    "x - x.max(axis=1, keepdims=True); the softmax does not change.",
    "global_max": "The maximum of the whole array was subtracted: rows far below it underflow to 0 / 0 = nan. "
                  "Subtract each row's maximum (axis=1, keepdims=True).",
    "log_zero": "log of a probability that underflowed to 0: 0 * log 0 is nan and log 0 is -inf. Clip into a new "
                "array, np.log(np.maximum(p, tiny)), or use np.where; do not write into prediction.",
    "nan_or_inf": "The result has nan or inf where the expected one is finite.",
    "log_softmax": "This is log softmax(x): leave out the log.",
    # layers and gradients
    "no_bias": "The bias is missing: x @ w + b.",
    "logits_for_probs": "The logits o were used where the probabilities softmax(o) are needed: dL/do = softmax(o) - y.",
    "missing_target": "The target is missing: dL/do = softmax(o) - y.",
    "pre_for_post": "dW_o uses the pre-activations z_h where the post-ReLU values h = ReLU(z_h) are needed: "
                    "dW_o = h^T delta_o.",
    "post_for_mask": "delta_h is multiplied by activation values (h or z_h) where the 0/1 mask 1[z_h > 0] is "
                     "needed: delta_h = (delta_o W_o^T) * 1[z_h > 0].",
    "mask_wrong_array": "The ReLU mask is missing or taken from the wrong array: it is 1[z_h > 0], from the hidden "
                        "pre-activations (h >= 0 is always true; the back-propagated error is not the mask).",
    "dropped_transpose": "delta_h = delta_o W_o^T: the transpose of W_o is missing.",
    "returned_mask": "This is the mask x > 0 (ReLU's derivative), not max(x, 0).",
    "python_if": "Python's if/and/or/max work on one number: on arrays use elementwise numpy (np.maximum, np.where).",
    "broadcast": "Shapes that do not fit together: write the shape of each array next to the line, e.g. "
                 "(N, K) @ (K, H).",
    # updates
    "modifies_input": "Your function writes into an input array: the caller's array changes under it (the grader "
                      "passes read-only arrays). Compute into a new array instead.",
    "momentum_order": "The momentum update is in the wrong order: first v = momentum * v + lr * grad, then "
                      "w = w - v with the new v.",
    "lr_on_velocity": "This is the other common form (v = momentum * v + grad, w -= lr * v); the report's is "
                      "v = momentum * v + lr * grad, w = w - v.",
    "returned_swapped": "The result is (v, w): return (w_new, v_new).",
    "loss_after_update": "The loss returned is of the weights after the update; the epoch's loss is that of the "
                         "forward pass before it, the one whose gradient makes the update.",
    "uses_failing": "This epoch calls one of your functions that fails its own checks: fix that one first.",
    # running the code
    "error": "Your function raised an error.",
    "not_array": "The function must return a numpy array.",
    "signature": "The function's parameters do not match any accepted signature.",
    "not_found": "The file does not define this function.",
    "syntax": "The file does not compile.",
    "timeout": "The code was stopped at the time limit (an infinite loop?).",
    "memory": "The code ran out of its memory budget.",
    "output": "The code printed more than the output limit and was stopped.",
    "sandbox": "The grader could not run the code.",
}


def hint(diagnosis):
    """The hint of a diagnosis id ('' for None)."""
    return DIAGNOSES.get(diagnosis, "") if diagnosis else ""
