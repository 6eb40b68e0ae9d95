"""The exercise graders: correct code passes every check, each known mistake gets its diagnosis,
the course report's code is graded as described, and the report object prints and travels as JSON."""

import json

import numpy as np
import pytest
from exercise_solutions import CORRECT, replace

from lab.exercises import NAMES, REPORT_SOURCE, Report, check, exercise, grade_functions, grade_sources
from lab.exercises.diagnoses import DIAGNOSES


def grade(source, only):
    return grade_sources([("my_solution.py", source)], only=[only])


def test_correct_solutions_pass_every_check():
    report = grade_sources([("my_solution.py", CORRECT)])
    assert report.graded == list(NAMES)
    assert report.passed, report.card()
    assert len(report.checks) > 35
    assert {c["block"] for c in report.heatmap} == {"W_o", "b_o", "W_h", "b_h"}
    assert all(c["rel_error"] < 1e-6 for c in report.heatmap)


MISTAKES = [
    # (exercise, line of the correct code, the wrong line, expected diagnosis)
    ("relu", "return np.maximum(x, 0)", "return np.max(x, 0)", "relu_reduces"),
    ("relu", "return np.maximum(x, 0)", "return (x > 0) * 1.0", "returned_mask"),
    ("relu", "return np.maximum(x, 0)", "return x if x > 0 else 0", "python_if"),
    ("relu", "return np.maximum(x, 0)", "x[x < 0] = 0\n    return x", "modifies_input"),
    ("softmax", "e = np.exp(x - np.max(x, axis=1, keepdims=True))", "e = np.exp(x)", "no_max_shift"),
    ("softmax", "e = np.exp(x - np.max(x, axis=1, keepdims=True))", "e = np.exp(x - np.max(x))", "global_max"),
    ("softmax", "return e / np.sum(e, axis=1, keepdims=True)", "return e / np.sum(e, axis=0, keepdims=True)",
     "wrong_axis"),
    ("softmax", "return e / np.sum(e, axis=1, keepdims=True)", "return e / np.sum(e, axis=1)", "no_keepdims"),
    ("softmax", "return e / np.sum(e, axis=1, keepdims=True)", "return e / np.sum(e)", "whole_array"),
    ("softmax", "e = np.exp(x - np.max(x, axis=1, keepdims=True))",
     "x -= np.max(x, axis=1, keepdims=True)\n    e = np.exp(x)", "modifies_input"),
    ("compute_layer", "return x @ w + b", "return (x @ w + b).T", "transposed"),
    ("compute_layer", "return x @ w + b", "return x @ w", "no_bias"),
    ("average_ce", "p = np.maximum(prediction, np.finfo(prediction.dtype).tiny)", "p = prediction", "log_zero"),
    ("average_ce", "return -np.sum(target * np.log(p)) / target.shape[0]", "return -np.sum(target * np.log(p))",
     "not_averaged"),
    ("average_ce", "return -np.sum(target * np.log(p)) / target.shape[0]", "return -np.mean(target * np.log(p))",
     "mean_over_classes"),
    ("average_ce", "return -np.sum(target * np.log(p)) / target.shape[0]",
     "return -np.sum(target * np.log(p), axis=1) / target.shape[0]", "not_reduced"),
    ("average_ce", "return -np.sum(target * np.log(p)) / target.shape[0]",
     "return np.sum(target * np.log(p)) / target.shape[0]", "wrong_sign"),
    ("grad_ce", "return softmax(logits) - target", "return target - softmax(logits)", "wrong_sign"),
    ("grad_ce", "return softmax(logits) - target", "return (softmax(logits) - target) / target.shape[0]",
     "divided_by_n"),
    ("grad_ce", "return softmax(logits) - target", "return logits - target", "logits_for_probs"),
    ("backpropagation", "d_o = (prediction - target) / n", "d_o = prediction - target", "not_averaged"),
    ("backpropagation", "d_o = (prediction - target) / n", "d_o = (target - prediction) / n", "wrong_sign"),
    ("backpropagation", "dwo = h.T @ d_o", "dwo = z_h.T @ d_o", "pre_for_post"),
    ("backpropagation", "d_h = (d_o @ w_o.T) * (z_h > 0)", "d_h = (d_o @ w_o.T) * relu(z_h)", "post_for_mask"),
    ("backpropagation", "d_h = (d_o @ w_o.T) * (z_h > 0)", "d_h = (d_o @ w_o.T) * (h >= 0)", "mask_wrong_array"),
    ("backpropagation", "d_h = (d_o @ w_o.T) * (z_h > 0)", "d_h = (d_o @ w_o) * (z_h > 0)", "dropped_transpose"),
    ("backpropagation", "dwh = x.T @ d_h", "dwh = d_h.T @ x", "transposed"),
    ("backpropagation", "dbo = d_o.sum(axis=0, keepdims=True)", "dbo = d_o.sum(axis=0)", "bias_shape"),
    ("backpropagation", "dbh = d_h.sum(axis=0, keepdims=True)", "dbh = d_h", "bias_not_summed"),
    ("backpropagation", "dbo = d_o.sum(axis=0, keepdims=True)", "dbo = d_o.sum(axis=1, keepdims=True)",
     "bias_wrong_axis"),
    ("backpropagation", "return dwo, dbo, dwh, dbh", "return dwh, dbh, dwo, dbo", "wrong_order"),
    ("backpropagation", "h = relu(z_h)", "h = relu(z_h)\n    z_h[z_h < 0] = 0", "modifies_input"),
    ("momentum_step", "v_new = momentum * v + lr * grad\n    return w - v_new, v_new",
     "w_new = w - v\n    return w_new, momentum * v + lr * grad", "momentum_order"),
    ("momentum_step", "v_new = momentum * v + lr * grad\n    return w - v_new, v_new",
     "w_new = w - lr * grad\n    return w_new, momentum * v + lr * grad", "momentum_order"),
    ("momentum_step", "v_new = momentum * v + lr * grad", "v_new = momentum * v + grad\n    w = w - lr * v_new\n"
     "    return w, v_new", "lr_on_velocity"),
    ("momentum_step", "v_new = momentum * v + lr * grad\n    return w - v_new, v_new",
     "v *= momentum\n    v += lr * grad\n    w -= v\n    return w, v", "modifies_input"),
    ("train_epoch", "return new_p, new_v, loss", "params.update(new_p)\n    return new_p, new_v, loss",
     "modifies_input"),
    ("train_epoch", "return new_p, new_v, loss", "z2 = compute_layer(x, new_p['w_h'], new_p['b_h'])\n"
     "    p2 = softmax(compute_layer(relu(z2), new_p['w_o'], new_p['b_o']))\n"
     "    return new_p, new_v, average_ce(target, p2)", "loss_after_update"),
    ("train_epoch", "new_p[name], new_v[name] = momentum_step(params[name], velocity[name], g, lr, momentum)",
     "new_p[name], new_v[name] = params[name] - velocity[name], momentum * velocity[name] + lr * g",
     "momentum_order"),
]


@pytest.mark.parametrize("name, old, new, diagnosis", MISTAKES, ids=[f"{m[0]}-{m[3]}" for m in MISTAKES])
def test_each_mistake_gets_its_diagnosis(name, old, new, diagnosis):
    report = grade(replace(old, new), name)
    assert not report.exercise_passed(name), report.card()
    assert diagnosis in report.diagnoses(name), report.card()
    assert DIAGNOSES[diagnosis] in report.card()


def test_dropped_transpose_with_h_not_k_is_a_shape_error_at_the_learners_line():
    report = grade(replace("d_h = (d_o @ w_o.T) * (z_h > 0)", "d_h = (d_o @ w_o) * (z_h > 0)"), "backpropagation")
    errors = [c for c in report.checks if c.diagnosis == "broadcast"]
    assert errors and all("my_solution.py line" in c.message for c in errors)


def test_modifying_an_input_names_the_argument_and_the_line():
    source = replace("p = np.maximum(prediction, np.finfo(prediction.dtype).tiny)",
                     "prediction[prediction == 0] = 1e-30\n    p = prediction")
    report = grade(source, "average_ce")
    bad = [c for c in report.checks if c.diagnosis == "modifies_input"]
    assert len(bad) == 1
    assert "`prediction`" in bad[0].message and "`target`" not in bad[0].message
    assert "my_solution.py line 18: `prediction[prediction == 0] = 1e-30`" in bad[0].message
    # its values are still graded (on writable copies): the loss itself is right
    assert all(c.passed for c in report.checks if c.diagnosis != "modifies_input")


def test_epoch_names_the_failing_helper():
    source = replace("d_o = (prediction - target) / n", "d_o = prediction - target")
    report = grade_sources([("my_solution.py", source)], only=["backpropagation", "train_epoch"])
    assert "uses_failing" in report.diagnoses("train_epoch")
    assert "backpropagation" in report.card()


def test_the_course_report_is_graded_as_described():
    report = grade_sources([("course_report.py", REPORT_SOURCE)])
    assert report.skipped == ["momentum_step", "train_epoch"]
    failed = [c for c in report.checks if not c.passed]
    assert {(c.exercise, c.diagnosis) for c in failed} == {("average_ce", "modifies_input"),
                                                          ("backpropagation", "modifies_input")}
    messages = {c.exercise: c.message for c in failed}
    assert "`prediction`" in messages["average_ce"] and "line 18" in messages["average_ce"]
    assert "`o`" in messages["backpropagation"] and "`o[o >= 0] = 1`" in messages["backpropagation"]
    # its gradients are right: every value check of backpropagation, central differences included, passes
    grads = [c for c in report.checks if c.exercise == "backpropagation" and c.diagnosis != "modifies_input"]
    assert len(grads) >= 6 and all(c.passed for c in grads)
    assert any("central differences" in c.name for c in grads)
    assert not report.passed


def test_report_signature_with_a_mistake_is_diagnosed_too():
    source = REPORT_SOURCE.replace("np.transpose(relu(o))", "np.transpose(o)")
    report = grade_sources([("course_report.py", source)], only=["backpropagation"])
    assert "pre_for_post" in report.diagnoses("backpropagation")


def test_notebook_check_returns_a_report_that_prints():
    ns = {}
    exec(CORRECT, ns)
    report = check(ns["backpropagation"])
    assert isinstance(report, Report) and report.passed
    assert "PASS  backpropagation" in repr(report) and "<table>" in report._repr_html_()
    wrong = {}
    exec(replace("return np.maximum(x, 0)", "return np.abs(x)"), wrong)
    bad = check(wrong["relu"])
    assert not bad.passed and "FAIL  relu" in repr(bad)
    assert check(ns["momentum_step"], "momentum_step").passed
    with pytest.raises(KeyError):
        check(ns["momentum_step"], "momentum_update")


def test_stubs_fail_with_not_implemented():
    stubs = "\n".join(exercise(n).stub for n in NAMES)
    report = grade_sources([("stubs.py", stubs)])
    assert report.graded == list(NAMES) and not any(c.passed for c in report.checks if "unchanged" not in c.name)
    assert "NotImplementedError" in report.card()


def test_syntax_errors_and_missing_functions_are_reported():
    report = grade_sources([("my_solution.py", "def relu(x)\n    return x\n")])
    assert report.error_kind == "syntax" and "line 1" in report.error and not report.passed
    report = grade_sources([("my_solution.py", "x = 1\n")])
    assert report.error_kind == "not_found" and not report.passed
    report = grade_sources([("my_solution.py", CORRECT)], only=["relu", "softmax"])
    assert report.graded == ["relu", "softmax"] and report.passed


def test_report_json_round_trip_and_untrusted_input():
    report = grade_sources([("course_report.py", REPORT_SOURCE)], only=["average_ce"])
    again = Report.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.card() == report.card()
    hostile = {"checks": [{"exercise": "x" * 10_000, "passed": "yes", "max_abs": "1", "diagnosis": "rm -rf"}] * 10_000,
               "error": ["a"], "output": "y" * 10**6}
    r = Report.from_dict(hostile)
    assert len(r.checks) == 400 and not r.checks[0].passed and r.checks[0].diagnosis is None
    assert len(r.checks[0].exercise) == 40 and r.checks[0].max_abs is None and len(r.output) == 8192
    with pytest.raises(ValueError):
        Report.from_dict([1, 2])


def test_grading_is_deterministic():
    a = grade_functions({"softmax": lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)})
    b = grade_functions({"softmax": lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)})
    assert a.card() == b.card() and "no_max_shift" in a.diagnoses()


def test_heatmap_points_at_the_wrong_blocks():
    report = grade(replace("d_h = (d_o @ w_o.T) * (z_h > 0)", "d_h = (d_o @ w_o.T) * relu(z_h)"), "backpropagation")
    wrong = {c["block"] for c in report.heatmap if not c["passed"]}
    assert wrong == {"W_h", "b_h"}
    assert all(c["rel_error"] < 1e-12 for c in report.heatmap if c["block"] in ("W_o", "b_o"))
    report = grade(replace("dbo = d_o.sum(axis=0, keepdims=True)", "dbo = d_o.sum(axis=0)"), "backpropagation")
    assert {c["block"] for c in report.heatmap if c["rel_error"] is None} == {"b_o"}


def test_cli_exit_codes(tmp_path, capsys):
    from lab.__main__ import main

    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(CORRECT)
    bad.write_text(replace("dwo = h.T @ d_o", "dwo = z_h.T @ d_o"))
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS ") == 41 and "41/41 checks passed; exercises passed: 8/8" in out
    assert main(["check", str(bad), "--only", "backpropagation"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  backpropagation" in out and DIAGNOSES["pre_for_post"] in out and "relu " not in out
    assert main(["check", str(bad), "--only", "relu,softmax"]) == 0
    assert main(["check", str(tmp_path / "missing.py")]) == 2
    assert main(["check", str(good), "--only", "nonsense"]) == 2


def test_other_correct_styles_pass():
    """Correct code written differently from ours: the report's 1^T products, np.where masks, float64 upcasts,
    a clip instead of tiny, an extra defaulted parameter, lists instead of tuples."""
    source = CORRECT + '''

def relu(x):
    return x * (x > 0)


def softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return np.exp(x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)))


def average_ce(target, prediction):
    return -np.mean(np.sum(target * np.log(np.clip(prediction, 1e-15, 1.0)), axis=1))


def backpropagation(prediction, target, z_h, w_o, x, verbose=False):
    n = target.shape[0]
    ones = np.ones((1, n))
    d_o = (prediction.astype(np.float64) - target) / n
    d_h = np.where(z_h > 0, d_o @ w_o.T, 0.0)
    return [np.maximum(z_h, 0).T @ d_o, ones @ d_o, x.T @ d_h, ones @ d_h]


def momentum_step(w, v, grad, lr, momentum):
    v = momentum * v + lr * grad
    w = w - v
    return w, v
'''
    report = grade_sources([("other.py", source)])
    assert report.passed, report.card()
