"""Metrics, model files and the command line."""

import io

import numpy as np
import pytest
from helpers import blob_letters, frozen_split

from mlp import cli
from mlp.data import DataError
from mlp.metrics import accuracy, confusion_matrix, misclassified, per_class_accuracy
from mlp.model_io import load_model, model_bytes
from mlp.train import Hyper, Trainer


def test_confusion_matrix_and_per_class_accuracy():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    cm = confusion_matrix(y_true, y_pred, k=3)
    assert cm.tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    assert cm.sum() == 6
    np.testing.assert_allclose(per_class_accuracy(cm), [0.5, 2 / 3, 1.0])
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_misclassified_sorted_by_confidence_and_filterable():
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.8, 0], [0.3, 0.7, 0], [0.1, 0.0, 0.9], [0.6, 0.4, 0]])
    y_true = np.array([0, 0, 0, 1, 1])
    m = misclassified(probs, y_true)
    assert m.index.tolist() == [3, 1, 2, 4]
    assert m.confidence.tolist() == [0.9, 0.8, 0.7, 0.6]
    assert m.predicted.tolist() == [2, 1, 1, 0]
    assert m.filter(true=0).index.tolist() == [1, 2]
    assert m.filter(true=1, predicted=0).index.tolist() == [4]


def trained_model():
    split = frozen_split()
    hyper = Hyper(hidden=8, epochs=3, batch_size=50, dtype="float32")
    t = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper)
    t.run()
    return t


def test_model_file_round_trip_without_pickle():
    t = trained_model()
    blob = model_bytes(t.params, t.hyper, t.history)
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:  # plain arrays only
        assert {"w_h", "b_h", "w_o", "b_o", "hyper", "history_epoch"} <= set(npz.files)
    m = load_model(blob)
    np.testing.assert_array_equal(m.params.w_h, t.params.w_h)
    assert m.hyper == t.hyper and m.history == t.history and m.resume is None


def test_foreign_or_broken_model_files_are_refused():
    with pytest.raises(DataError, match="not a model file"):
        buf = io.BytesIO()
        np.savez(buf, images=np.zeros((2, 28, 28), np.uint8))
        load_model(buf.getvalue())
    with pytest.raises(DataError, match="damaged .npz"):
        load_model(b"PK\x03\x04 garbage")
    with pytest.raises(DataError, match="empty"):
        load_model(b"")


def write_npz(path, n=200):
    images, labels = blob_letters(n)
    np.savez(path, images=images, labels=labels)
    return path


def test_cli_train_then_evaluate(tmp_path, capsys):
    data = write_npz(tmp_path / "letters.npz")
    out = tmp_path / "model.npz"
    code = cli.main(["train", "--data", str(data), "--preset", "quick", "--hidden", "12", "--epochs", "3",
                     "--batch-size", "full", "--dtype", "float64", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert text.count("epoch ") >= 3 and "final train accuracy" in text and "test accuracy" in text
    want = Hyper(hidden=12, lr=0.1, momentum=0.9, epochs=3, batch_size=None, seed=521, dtype="float64")
    assert load_model(out).hyper == want
    assert cli.main(["evaluate", "--model", str(out), "--data", str(data)]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "true\\pred" in text and len(text.splitlines()) >= 13


def test_cli_reports_bad_data_clearly(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    assert cli.main(["train", "--data", str(bad), "--epochs", "1"]) == 2
    assert "error: bad.npz: is not a .npz" in capsys.readouterr().err


def test_cli_stops_a_diverging_run(tmp_path, capsys):
    data = write_npz(tmp_path / "letters.npz")
    code = cli.main(["train", "--data", str(data), "--hidden", "64", "--epochs", "60", "--lr", "50",
                     "--momentum", "0.9", "--batch-size", "full", "--quiet"])
    assert code == 1
    assert "learning rate is too high" in capsys.readouterr().out


def test_lab_models_must_map_784_pixels_to_10_letters():
    from mlp.model_io import load_lab_model
    from mlp.network import init_params

    good = trained_model()
    assert load_lab_model(model_bytes(good.params, good.hyper)).params.sizes == (784, 8, 10)
    small = init_params(20, 5, 3, seed=0)
    with pytest.raises(DataError, match="a 20-5-3 network does not fit 784 pixels and 10 letters"):
        load_lab_model(model_bytes(small, Hyper(hidden=5)), "small.npz")


# --- a model's weight snapshots and gradient health --------------------------------------------------------------


HEALTH_VALUES = {"grad_w_h": 0.5, "grad_b_h": 0.1, "grad_w_o": 0.7, "grad_b_o": 0.2, "ratio_w_h": 1e-3,
                 "ratio_w_o": 2e-3, "dead_share": 0.25, "always_on_share": 0.125}


def snapshot_model(n=3, dtype=np.float32):
    """A small 784-8-10 model with ``n`` snapshots at epochs 0, 1, .. and two epochs of health."""
    from mlp.network import init_params

    snaps = [(e, init_params(784, 8, 10, seed=e, dtype=dtype)) for e in range(n)]
    health = [{"epoch": e, **{k: v * e for k, v in HEALTH_VALUES.items()}} for e in (1, 2)]
    return snaps[-1][1], Hyper(hidden=8, epochs=max(n - 1, 1)), snaps, health


def snapshot_arrays(**changes):
    params, hyper, snaps, health = snapshot_model()
    with np.load(io.BytesIO(model_bytes(params, hyper, [], snaps, health)), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_snapshots_and_health_round_trip():
    params, hyper, snaps, health = snapshot_model()
    m = load_model(model_bytes(params, hyper, [], snaps, health))
    assert [e for e, _ in m.snapshots] == [0, 1, 2]
    for (_, want), (_, got) in zip(snaps, m.snapshots):
        for name in ("w_h", "b_h", "w_o", "b_o"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
            assert getattr(got, name).dtype == np.float32
    assert m.health == health
    old = load_model(model_bytes(params, hyper))  # a file without them, as older files are
    assert old.snapshots == [] and old.health == []


@pytest.mark.parametrize("changes,needle", [
    ({"snapshot_w_o": None}, "the snapshots are incomplete (missing ['snapshot_w_o'])"),
    ({"snapshot_w_h": np.zeros((3, 784, 9), np.float32)}, "'snapshot_w_h' has shape (3, 784, 9); with 3 snapshots"),
    ({"snapshot_b_h": np.zeros((2, 1, 8), np.float32)}, "'snapshot_b_h' has shape (2, 1, 8)"),
    ({"snapshot_w_h": np.zeros((784, 8), np.float32)}, "'snapshot_w_h' has shape (784, 8) (2-D); it must be 3-D"),
    ({"snapshot_w_o": np.zeros((3, 8, 10), np.int32)}, "'snapshot_w_o' has dtype int32; it must hold float32"),
    ({"snapshot_w_o": np.zeros((3, 8, 10), np.float16)}, "dtype float16"),
    ({"snapshot_b_o": np.full((3, 1, 10), np.nan, np.float32)}, "'snapshot_b_o' holds 30 values that are not finite"),
    ({"snapshot_epoch": np.array([0.0, 1.0, 2.0])}, "'snapshot_epoch' has dtype float64; it must hold integers"),
    ({"snapshot_epoch": np.array([0, 2, 1])}, "the snapshots' epochs must be increasing whole numbers from 0"),
    ({"snapshot_epoch": np.array([-1, 0, 1])}, "increasing whole numbers from 0"),
    ({"snapshot_epoch": np.array([0, 1, 10**9])}, "increasing whole numbers from 0 to 10,000"),
    ({"health_dead_share": None}, "the gradient health is incomplete (missing ['health_dead_share'])"),
    ({"health_grad_w_h": np.array([1.0, 2.0, 3.0])}, "the gradient health's arrays have different lengths [2, 3]"),
    ({"health_dead_share": np.array([0.5, 1.5])}, "the dead and always-on shares must be within 0 .. 1"),
    ({"health_always_on_share": np.array([0.5, np.nan])}, "shares must be within 0 .. 1"),
    ({"health_ratio_w_o": np.array([-1.0, 0.0])}, "must not be negative"),
    ({"health_epoch": np.array([2.0, 1.0])}, "epochs must be increasing whole numbers from 1"),
    ({"health_grad_b_o": np.array(["a", "b"])}, "'health_grad_b_o' has dtype <U1; it must hold float32 or float64"),
])
def test_bad_snapshots_or_health_are_refused_clearly(changes, needle):
    with pytest.raises(DataError) as err:
        load_model(snapshot_arrays(**changes), "bad.npz")
    assert needle in str(err.value)
    assert str(err.value).startswith("bad.npz: ")


def test_snapshot_count_and_bytes_are_within_the_limits():
    from mlp import limits

    n = limits.MAX_SNAPSHOTS + 1
    params, hyper, snaps, _ = snapshot_model()
    many = [(e, snaps[0][1]) for e in range(n)]
    with pytest.raises(DataError, match=f"holds {n} weight snapshots; the limit is {n - 1} "
                                        r"\(mlp.limits.MAX_SNAPSHOTS\)"):
        load_model(model_bytes(params, hyper, [], many))
    fit = [(e, snaps[0][1]) for e in range(n - 1)]
    assert len(load_model(model_bytes(params, hyper, [], fit)).snapshots) == n - 1


def declared_snapshots(h, n, w_h_shape=None):
    """A 784-h-10 model file whose ``n`` float64 snapshots are declared in their headers only (no data)."""
    from hostile_build import npy_member, small_member, zip_of

    from mlp.network import init_params

    params = init_params(784, h, 10, seed=0, dtype=np.float32)
    members = [small_member(k, v) for k, v in params.as_dict().items()]
    members += [small_member("hyper", np.array(Hyper(hidden=h).to_json())),
                small_member("snapshot_epoch", np.arange(n))]
    for key, value in params.as_dict().items():
        shape = (n, *value.shape) if key != "w_h" or w_h_shape is None else w_h_shape
        members.append(npy_member(f"snapshot_{key}", shape, "<f8", nbytes=16))
    return zip_of(members)


def test_snapshots_beyond_their_byte_budget_are_refused_from_the_headers():
    from mlp import limits

    h = 1100
    per = (784 * h + h + h * 10 + 10) * 8
    n = limits.SNAPSHOT_BYTES // per + 1
    assert n <= limits.MAX_SNAPSHOTS
    with pytest.raises(DataError, match=f"snapshots take {n * per:,} bytes; the limit is "
                                        f"{limits.SNAPSHOT_BYTES:,} " + r"\(mlp.limits.SNAPSHOT_BYTES\)"):
        load_model(declared_snapshots(h, n))


def test_a_snapshot_bomb_is_refused_from_its_headers():
    """Snapshots declared with a shape that does not fit: refused before any array is read."""
    with pytest.raises(DataError, match=r"'snapshot_w_h' has shape \(3, 784, 90000\)"):
        load_model(declared_snapshots(8, 3, (3, 784, 90000)))
