"""lab.predict (parsing, tolerance, score, fresh problems, the pages' questions), lab.losses_demo and
lab.backprop_facts, each against values computed here independently."""

import numpy as np
import pytest

from lab.backprop_facts import changed_entries, nonzero_columns, nonzero_rows
from lab.explain import explain_momentum_step, explain_pass, softmax_ce, tiny_problem
from lab.losses_demo import confidently_wrong, mse_vs_ce
from lab.predict import (
    Question,
    Score,
    backprop_questions,
    check,
    parse_count,
    parse_number,
    parse_shape,
    problem_rng,
    random_logits,
    random_seed,
    softmax_questions,
)
from mlp.network import loss_and_grads


@pytest.mark.parametrize("text, value", [("0.25", 0.25), ("-0.3", -0.3), ("−0.3", -0.3), (" 2e-3 ", 0.002),
                                         ("1/4", 0.25), ("25%", 0.25), ("0,5", 0.5), ("-1/3", -1 / 3)])
def test_numbers_are_read_in_the_usual_ways(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1/0", "inf", "nan", "1..2", "--1"])
def test_unreadable_numbers_are_none(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text", ["3x4", "3 × 4", "3*4", "(3, 4)", "3,4", "3 by 4", " 3 X 4 "])
def test_shapes_are_read_in_the_usual_ways(text):
    assert parse_shape(text) == (3, 4)


def test_counts_are_whole_numbers():
    assert parse_count("3") == 3 and parse_count("3.0") == 3
    assert parse_count("3.5") is None and parse_count("x") is None


def test_a_number_is_right_within_the_tolerance_and_wrong_outside():
    q = Question(1, "p?", "number", 0.2371, "because.")
    assert q.tolerance == pytest.approx(0.005)  # max(0.005, 2 % of 0.2371)
    assert check(q, "0.24").correct and check(q, "0.2322").correct
    wrong = check(q, "0.25")
    assert not wrong.correct and wrong.message.startswith("Not quite: it is 0.2371") and "because." in wrong.message
    big = Question(1, "L?", "number", 4.6, "")
    assert big.tolerance == pytest.approx(0.092) and check(big, "4.55").correct and not check(big, "4.7").correct


def test_counts_and_shapes_must_be_exact():
    assert check(Question(1, "n?", "count", 5, ""), "5").correct
    assert not check(Question(1, "n?", "count", 5, ""), "4").correct
    assert check(Question(2, "shape?", "shape", (2, 3), ""), "2 x 3").correct
    assert not check(Question(2, "shape?", "shape", (2, 3), ""), "3 x 2").correct  # transposed is wrong


def test_an_unreadable_answer_says_so_and_gives_the_answer():
    v = check(Question(3, "p?", "number", 0.5, "why."), "half")
    assert v.parsed is None and not v.correct and "Could not read 'half'" in v.message and "0.5000" in v.message


def test_score_counts_each_step_of_a_problem_once():
    s = Score()
    q = Question(1, "p?", "number", 0.5, "")
    s.record("a", check(q, "0.5"))
    s.record("a", check(q, "0.9"))  # a second answer to the same step is not counted
    s.record("b", check(q, "0.9"))
    assert (s.right, s.asked) == (1, 2) and s.get("a", 1).correct and not s.get("b", 1).correct


def test_fresh_problems_depend_on_session_seed_and_attempt():
    first = random_logits(problem_rng(123, 1), 4)
    assert first == random_logits(problem_rng(123, 1), 4)  # replayable
    assert first != random_logits(problem_rng(123, 2), 4) and first != random_logits(problem_rng(124, 1), 4)
    logits, c = first
    assert len(logits) == 4 and 0 <= c < 4 and all(-4 <= v <= 4 and round(v, 1) == v for v in logits)
    seeds = {random_seed(problem_rng(7, a)) for a in range(1, 20)}
    assert len(seeds) > 15 and all(0 <= s <= 9999 for s in seeds)


def test_softmax_questions_have_the_pages_numbers():
    logits, c = [2.0, 1.0, 0.1, -1.0], 1
    e = np.exp(np.array(logits))
    p = e / e.sum()
    qs = softmax_questions(softmax_ce(logits, c), "ABCD")
    assert sorted(qs) == [1, 2, 3, 4, 5]
    assert qs[1].answer == pytest.approx(-np.log(p[1]))
    assert qs[2].answer == pytest.approx(p[1] * (1 - p[1]))
    assert qs[3].answer == pytest.approx(-1 / p[1])
    assert qs[4].answer == pytest.approx(p[0]) and "o_A" in qs[4].prompt  # the likeliest wrong class is A
    assert qs[5].answer == pytest.approx(p[1] - 1)


def test_backprop_questions_have_the_pages_numbers():
    params, x, labels = tiny_problem(4, 3, 3, 2, seed=27)
    qs = backprop_questions(explain_pass(params, x, labels))
    z = x @ params.w_h + params.b_h
    o = np.maximum(z, 0) @ params.w_o + params.b_o
    p = np.exp(o - o.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert qs[1].answer == int((z > 0).sum()) and qs[7].answer == int((z <= 0).sum())
    assert qs[2].answer == (2, 3) and qs[6].answer == (3, 3) and qs[8].answer == (4, 3)
    assert qs[3].answer == pytest.approx(p[0, labels[0]])
    assert qs[4].answer == pytest.approx(-np.mean(np.log(p[np.arange(2), labels])))
    assert qs[5].answer == pytest.approx((p[0, labels[0]] - 1) / 2)


def squared_error(o, c):
    p = np.exp(o - o.max())
    p /= p.sum()
    y = np.eye(len(o))[c]
    return 0.5 * np.sum((p - y) ** 2)


def test_mse_gradient_matches_central_differences():
    o, c, eps = np.array([2.0, 1.0, 0.1, -1.0, 0.5]), 3, 1e-6
    both = mse_vs_ce(o, c)
    numeric = np.array([(squared_error(o + eps * e, c) - squared_error(o - eps * e, c)) / (2 * eps)
                        for e in np.eye(len(o))])
    assert np.allclose(both.mse_grad, numeric, atol=1e-9)
    assert both.mse_loss == pytest.approx(squared_error(o, c))
    assert np.allclose(both.ce_grad, both.p - np.eye(5)[c])


def test_squared_error_gradient_vanishes_when_confidently_wrong_and_cross_entropy_does_not():
    cw = confidently_wrong([2.0, 1.0, 0.1, -1.0], 1, drops=(0.0, 8.0, 16.0))
    assert cw.p_true[-1] < 1e-6
    assert cw.ce_grad_true[-1] == pytest.approx(cw.p_true[-1] - 1)  # about -1
    assert abs(cw.mse_grad_true[-1]) < 1e-5 and abs(cw.mse_grad_true[0]) > 0.1


def test_counts_of_nonzero_rows_columns_and_changed_entries():
    a = np.array([[0.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    assert nonzero_rows(a) == 2 and nonzero_columns(a) == 2 and nonzero_columns(np.zeros((2, 3))) == 0
    params, x, labels = tiny_problem(4, 3, 3, 2, seed=1)
    step = explain_momentum_step(params, x, labels, lr=0.1, momentum=0.0)
    _, grads = loss_and_grads(params, x, labels)  # with momentum 0, an entry moves exactly when its gradient is not 0
    expected = sum(int(np.count_nonzero(getattr(grads, n))) for n in ("w_h", "b_h", "w_o", "b_o"))
    assert changed_entries(step.params_before, step.params_after)["total"] == (expected, 27)
    assert expected == 11  # the example: seed 1, a unit dead for the whole batch
