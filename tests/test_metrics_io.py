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
