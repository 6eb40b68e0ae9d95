"""The trainer: the report's update, both numeric paths, the stepper, saving mid-run, divergence."""

import io
from dataclasses import replace

import numpy as np
import pytest
from helpers import frozen_split

from mlp.model_io import load_trainer, save_trainer
from mlp.network import forward, init_params, loss_and_grads
from mlp.train import VELOCITY_START, Hyper, Trainer, dead_units_reason, divergence_reason, momentum_step


def make_trainer(split, **hyper):
    h = Hyper(**{"hidden": 16, "epochs": 30, "seed": 3, **hyper})
    return Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, h)


def test_momentum_step_is_the_reports_form():
    w, v, g = np.array([1.0]), np.array([1e-5]), np.array([2.0])
    new_w, new_v = momentum_step(w, v, g, lr=0.1, momentum=0.9)
    assert new_v[0] == pytest.approx(0.9 * 1e-5 + 0.1 * 2.0)
    assert new_w[0] == pytest.approx(1.0 - new_v[0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_first_epoch_record_and_update_follow_the_report(dtype):
    split = frozen_split(dtype=np.float64)
    trainer = make_trainer(split, dtype=dtype, epochs=1)
    params0 = init_params(784, 16, 10, seed=3)
    record = trainer.step_epoch()
    # metrics come from the forward pass before the update
    fw = forward(params0, split.x_train)
    assert record["train_acc"] == pytest.approx(np.mean(fw.p.argmax(1) == split.y_train))
    loss0, grads = loss_and_grads(params0, split.x_train, split.y_train)
    assert record["train_loss"] == pytest.approx(loss0, rel=1e-5)
    # one update: v = 0.9 * 1e-5 + 0.1 g, w -= v
    tol = 1e-12 if dtype == "float64" else 1e-6
    for name in ("w_h", "b_h", "w_o", "b_o"):
        v = 0.9 * VELOCITY_START + 0.1 * getattr(grads, name)
        np.testing.assert_allclose(getattr(trainer.params, name), getattr(params0, name) - v, atol=tol)
        np.testing.assert_allclose(getattr(trainer.velocity, name), v, atol=tol)


@pytest.mark.parametrize("batch_size", [None, 32])
def test_float32_fast_path_agrees_with_float64_reference_over_30_epochs(batch_size):
    split = frozen_split(n=600)
    ref = make_trainer(split, dtype="float64", batch_size=batch_size)
    fast = make_trainer(split, dtype="float32", batch_size=batch_size)
    ref.run()
    fast.run()
    for key in ("train_loss", "valid_loss"):
        a = np.array([r[key] for r in ref.history])
        b = np.array([r[key] for r in fast.history])
        np.testing.assert_allclose(b, a, rtol=1e-4)
    assert ref.history[-1]["train_acc"] > 0.7  # it learned something (20% of labels are noise)


def test_full_batch_training_reduces_loss():
    split = frozen_split()
    t = make_trainer(split, dtype="float32")
    t.run()
    assert t.history[-1]["train_loss"] < 0.5 * t.history[0]["train_loss"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunked_steps_equal_whole_epochs(dtype):
    split = frozen_split()
    a = make_trainer(split, dtype=dtype, batch_size=20, epochs=3)
    b = make_trainer(split, dtype=dtype, batch_size=20, epochs=3)
    a.run()
    records = []
    while not b.done:
        r = b.step(max_batches=3)
        assert r is None or r["epoch"] == len(records) + 1
        records += [r] if r else []
    for ra, rb in zip(a.history, records):
        assert ra["train_loss"] == rb["train_loss"] and ra["valid_acc"] == rb["valid_acc"]
    np.testing.assert_array_equal(a.params.w_h, b.params.w_h)


def test_minibatch_order_depends_on_seed_only():
    split = frozen_split()
    runs = [make_trainer(split, batch_size=16, epochs=3, seed=s) for s in (1, 1, 2)]
    for t in runs:
        t.run()
    assert runs[0].history[-1]["train_loss"] == runs[1].history[-1]["train_loss"]
    assert runs[0].history[-1]["train_loss"] != runs[2].history[-1]["train_loss"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("stop_batches", [0, 7])
def test_save_mid_run_and_resume_gives_the_same_run(dtype, stop_batches):
    split = frozen_split()
    straight = make_trainer(split, dtype=dtype, batch_size=20, epochs=5)
    straight.run()
    first = make_trainer(split, dtype=dtype, batch_size=20, epochs=5)
    for _ in range(2):
        first.step_epoch()
    if stop_batches:
        assert first.step(max_batches=stop_batches) is None  # paused inside epoch 3
    buf = io.BytesIO()
    save_trainer(buf, first)
    resumed = load_trainer(buf.getvalue(), split.x_train, split.y_train, split.x_valid, split.y_valid)
    resumed.run()
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
    np.testing.assert_array_equal(resumed.params.w_o, straight.params.w_o)


def test_divergence_is_detected_and_stops_the_run():
    split = frozen_split()
    t = make_trainer(split, lr=50.0, momentum=0.9, batch_size=None, hidden=64, epochs=200)
    t.run()
    assert divergence_reason(t.history) is not None
    assert t.epoch < 200


def test_divergence_reason_messages():
    assert divergence_reason([]) is None
    ok = [{"epoch": 1, "train_loss": 2.3}, {"epoch": 2, "train_loss": 1.0}]
    assert divergence_reason(ok) is None
    assert "nan" in divergence_reason(ok + [{"epoch": 3, "train_loss": float("nan")}])
    assert "exploded" in divergence_reason(ok + [{"epoch": 3, "train_loss": 80.0}])


def test_trainer_leaves_its_inputs_unchanged():
    split = frozen_split()
    x = np.array(split.x_train)  # writeable copies, checked after
    y = np.array(split.y_train)
    before = x.copy(), y.copy()
    for dtype in ("float64", "float32"):
        t = Trainer(x, y, split.x_valid, split.y_valid, Hyper(hidden=8, epochs=2, dtype=dtype, batch_size=50))
        t.run()
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


def test_hyper_validation():
    with pytest.raises(ValueError):
        Hyper(dtype="float16")
    with pytest.raises(ValueError):
        Hyper(batch_size=0)
    assert Hyper.from_json(Hyper(lr=0.3).to_json()) == Hyper(lr=0.3)


def test_a_run_whose_relus_all_die_is_stopped():
    """lr 1 with mini-batches of 16 switches every hidden unit off in the first epoch: the loss stays
    finite and near chance, so only the dead-unit check can stop the run."""
    split = frozen_split()
    t = make_trainer(split, lr=1.0, momentum=0.9, batch_size=16, hidden=32, epochs=50)
    t.run()
    assert t.epoch < 50 and divergence_reason(t.history) is None
    reason = t.stop_reason()
    assert "all 32 hidden units output 0" in reason
    z = split.x_train @ t.params.w_h + t.params.b_h
    assert np.all(z <= 0)  # what the sentence says


def test_dead_units_reason_needs_both_chance_level_and_dead_units():
    split = frozen_split()
    params = make_trainer(split, hidden=8).params
    at_chance = [{"epoch": 1, "train_loss": 2.31}, {"epoch": 2, "train_loss": 2.35}]
    learning = [{"epoch": 1, "train_loss": 2.31}, {"epoch": 2, "train_loss": 1.2}]
    assert dead_units_reason(at_chance, params, split.x_train) is None  # fresh units are alive
    dead = replace(params, b_h=np.full_like(params.b_h, -1e3))
    assert "all 8 hidden units output 0" in dead_units_reason(at_chance, dead, split.x_train)
    assert dead_units_reason(learning, dead, split.x_train) is None  # only checked at chance level
    assert dead_units_reason(at_chance[:1], dead, split.x_train) is None  # after two epochs there
    one_alive = replace(dead, b_h=dead.b_h.copy())
    one_alive.b_h[0, 3] = 1.0
    assert dead_units_reason(at_chance, one_alive, split.x_train) is None


# ---- the report's initial weights (Hyper.init = "report") -------------------------------------------


def report_stream_weights(n_data, n_in, hidden):
    """The report's own calls on the GLOBAL stream: load_data's seed and shuffle, then w_o, then w_h."""
    saved = np.random.get_state()
    try:
        np.random.seed(521)
        rand_idx = np.arange(n_data)
        np.random.shuffle(rand_idx)
        w_o = np.random.normal(0, np.sqrt(2 / (hidden + 10)), (hidden, 10))
        w_h = np.random.normal(0, np.sqrt(2 / (n_in + hidden)), (n_in, hidden))
    finally:
        np.random.set_state(saved)
    return rand_idx, w_o, w_h


def test_report_init_replays_the_reports_global_stream_without_touching_it():
    split = frozen_split()
    n_data = len(split.order)
    rand_idx, w_o, w_h = report_stream_weights(n_data, 784, 16)
    np.testing.assert_array_equal(split.order, rand_idx)  # the split is the report's shuffle too
    np.random.seed(12345)
    before = np.random.get_state()[1].copy()
    trainer_with_n = make_trainer_report(split, dtype="float64")
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # the global stream is untouched
    np.testing.assert_array_equal(trainer_with_n.params.w_o, w_o)  # bit for bit
    np.testing.assert_array_equal(trainer_with_n.params.w_h, w_h)
    fresh = init_params(784, 16, 10, seed=521)
    assert not np.array_equal(fresh.w_o, w_o)  # "seed" is a different stream
    assert np.all(trainer_with_n.params.b_h == 0) and np.all(trainer_with_n.params.b_o == 0)


def make_trainer_report(split, **hyper):
    h = Hyper(**{"hidden": 16, "epochs": 30, "seed": 521, "init": "report", **hyper})
    return Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, h, n_data=len(split.order))


def test_report_init_needs_the_data_set_size():
    split = frozen_split()
    with pytest.raises(ValueError, match="n_data"):
        Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, Hyper(hidden=8, init="report"))
    with pytest.raises(ValueError):
        Hyper(init="xavier")
    assert Hyper.from_json(Hyper(init="report").to_json()).init == "report"


def test_report_init_survives_saving_and_resuming():
    split = frozen_split()
    first = make_trainer_report(split, batch_size=20, epochs=2)
    first.step(max_batches=3)
    buf = io.BytesIO()
    save_trainer(buf, first)
    resumed = load_trainer(buf.getvalue(), split.x_train, split.y_train, split.x_valid, split.y_valid)
    assert resumed.hyper.init == "report"
    np.testing.assert_array_equal(resumed.params.w_h, first.params.w_h)


def test_assignment_preset_starts_from_the_reports_weights_on_the_real_file(real_data_path):
    """On the 18,724 real images the report's stream gives w_o[0, :3] = (0.0166, 0.0038, 0.0477)."""
    from mlp.data import load_dataset, split_dataset
    from mlp.train import PRESETS

    ds = load_dataset(real_data_path)
    split = split_dataset(ds.images, ds.labels)
    assert len(split.order) == 18724
    hyper = replace(PRESETS["assignment"], epochs=1)
    assert hyper.init == "report" and hyper.seed == 521
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, n_data=len(split.order))
    np.testing.assert_array_equal(np.round(trainer.params.w_o[0, :3].astype(np.float64), 4), [0.0166, 0.0038, 0.0477])
    _, w_o, w_h = report_stream_weights(len(split.order), 784, 1000)
    np.testing.assert_array_equal(trainer.params.w_o, w_o.astype(hyper.dtype))
    np.testing.assert_array_equal(trainer.params.w_h, w_h.astype(hyper.dtype))


# ---- one backward pass for the library, the trainer and the explanations ---------------------------


def zero_unit_problem(dtype):
    """Zero biases, hidden unit 2's weights all 0 and a blank image: z_h is exactly 0 there (unit 2 everywhere,
    every unit for the blank row), where relu'(0) = 0 must keep the gradient of W_h and b_h at exactly 0."""
    split = frozen_split(dtype=np.float64)
    params = init_params(784, 6, 10, seed=4, dtype=dtype)
    params.w_h[:, 2] = 0
    x = np.array(split.x_train[:8], dtype)
    x[0] = 0  # a blank image
    return params, x, np.array(split.y_train[:8])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_derivative_at_zero_is_zero_in_backpropagation(dtype):
    from mlp.core import backpropagation, one_hot

    params, x, labels = zero_unit_problem(dtype)
    fw = forward(params, x)
    assert np.all(fw.z_h[:, 2] == 0) and np.all(fw.z_h[0] == 0)
    dwo, dbo, dwh, dbh = backpropagation(fw.p, one_hot(labels, 10, dtype), fw.z_h, params.w_o, x)
    assert np.all(dwh[:, 2] == 0) and dbh[0, 2] == 0  # with relu'(0) = 1 these would be nonzero
    assert np.count_nonzero(dwh[:, [0, 1, 3, 4, 5]]) > 0  # the live units do learn
    _, grads = loss_and_grads(params, x, labels)
    assert np.all(grads.w_h[:, 2] == 0) and grads.b_h[0, 2] == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_relu_derivative_at_zero_is_zero_in_the_training_path(dtype, batch_size):
    """One step of the Trainer moves the dead unit's weights by the start velocity only (its gradient is 0)."""
    params, x, labels = zero_unit_problem(getattr(np, dtype))
    hyper = Hyper(hidden=6, epochs=1, batch_size=batch_size, dtype=dtype)
    trainer = Trainer(x, labels, x[:0], labels[:0], hyper, params=params)
    trainer.step(max_batches=1)
    v = trainer.velocity
    w_start, v_start = np.zeros(1, dtype), np.full(1, VELOCITY_START, dtype)
    expect_w, expect_v = momentum_step(w_start, v_start, np.zeros(1, dtype), hyper.lr, hyper.momentum)
    assert np.all(v.w_h[:, 2] == expect_v[0]) and v.b_h[0, 2] == expect_v[0]
    assert np.all(trainer.params.w_h[:, 2] == expect_w[0])
    assert np.any(v.w_h[:, 0] != expect_v[0])  # a live unit got a gradient


def test_trainer_explain_and_backpropagation_share_one_backward_pass(monkeypatch):
    """Swap mlp.network.backward for a wrong one: Trainer.step's update, lab.explain's numbers and
    core.backpropagation all change, so all three run that one function."""
    import mlp.network as network
    from lab import explain
    from mlp.core import backpropagation, one_hot

    split = frozen_split()
    small, x, labels = explain.tiny_problem(4, 3, 3, 2, seed=27)

    def results():
        trainer = make_trainer(split, epochs=1)
        trainer.step()
        fw = forward(small, x)
        return (trainer.params.w_h, explain.explain_pass(small, x, labels).dwh,
                explain.explain_momentum_step(small, x, labels).params_after.w_h,
                backpropagation(fw.p, one_hot(labels, 3), fw.z_h, small.w_o, x)[2])

    right = results()
    real = network.backward
    calls = []

    def wrong(*args, **kwargs):
        calls.append(1)
        bw = real(*args, **kwargs)
        bw.grads.w_h *= 3  # in place, so that the trainer's buffers get it too
        return bw

    monkeypatch.setattr(network, "backward", wrong)
    changed = results()
    assert len(calls) >= 4
    for a, b in zip(right, changed):
        assert not np.allclose(a, b)


def report_learning(images, labels, n_train, hidden, epochs):
    """The course report's load_data + learning(), transcribed (global stream, its helpers, its in-place mask)."""
    saved = np.random.get_state()
    try:
        np.random.seed(521)
        rand_idx = np.arange(len(images))
        np.random.shuffle(rand_idx)
        data = (images[rand_idx] / 255.0).reshape(len(images), -1)
        targets = labels[rand_idx].astype(int)
        x, y = data[:n_train], np.eye(10)[targets[:n_train]]  # (the report's validation pass changes nothing)
        f = x.shape[1]
        wo = np.random.normal(0, np.sqrt(2 / (hidden + 10)), (hidden, 10))
        wh = np.random.normal(0, np.sqrt(2 / (f + hidden)), (f, hidden))
    finally:
        np.random.set_state(saved)
    bo, bh = np.zeros((1, 10)), np.zeros((1, hidden))
    vwh, vwo, vbh, vbo = (np.full(s, 1e-5) for s in ((f, hidden), (hidden, 10), (1, hidden), (1, 10)))

    def softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)

    losses = []
    for _ in range(epochs):
        o = np.matmul(x, wh) + bh
        prediction = softmax(np.matmul(np.maximum(o, 0), wo) + bo)
        losses.append(-np.sum(y * np.log(prediction)) / y.shape[0])
        d = (prediction - y) / y.shape[0]
        ones = np.ones((1, y.shape[0]))
        dwo, dbo = np.matmul(np.maximum(o, 0).T, d), np.matmul(ones, d)
        o[o >= 0] = 1
        o[o < 0] = 0
        dwh, dbh = np.matmul(x.T, o * np.matmul(d, wo.T)), np.matmul(ones, o * np.matmul(d, wo.T))
        vwh, vwo, vbh, vbo = 0.9 * vwh + 0.1 * dwh, 0.9 * vwo + 0.1 * dwo, 0.9 * vbh + 0.1 * dbh, 0.9 * vbo + 0.1 * dbo
        wo, wh, bo, bh = wo - vwo, wh - vwh, bo - vbo, bh - vbh
    return losses, wh


def test_float64_report_init_run_agrees_with_the_reports_code_to_rounding():
    """Our float64 Trainer with init='report' against the report's own loop: same losses and weights to ~1e-12."""
    from helpers import blob_letters

    images, labels = blob_letters(400)
    split = frozen_split()
    trainer = make_trainer_report(split, dtype="float64", epochs=8)
    trainer.run()
    losses, wh = report_learning(images, labels, len(split.y_train), 16, 8)
    np.testing.assert_allclose([r["train_loss"] for r in trainer.history], losses, rtol=1e-12)
    np.testing.assert_allclose(trainer.params.w_h, wh, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch_size", [None, 7])
def test_each_epochs_record_is_taken_on_the_weights_as_that_epoch_begins(batch_size):
    """What the pages say under every epoch curve: epoch 1 is the random start, epoch e + 1 the weights after e."""
    split = frozen_split(dtype=np.float64)
    trainer = make_trainer(split, dtype="float64", epochs=3, batch_size=batch_size)
    starts = []
    for _ in range(3):
        starts.append(trainer.params)
        trainer.step_epoch()
    for record, params in zip(trainer.history, starts):
        p = forward(params, split.x_valid).p
        assert record["valid_acc"] == pytest.approx(np.mean(p.argmax(1) == split.y_valid))
    final = forward(trainer.params, split.x_valid).p
    assert trainer.evaluate()[3] == pytest.approx(np.mean(final.argmax(1) == split.y_valid))
