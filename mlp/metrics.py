"""Accuracy, confusion matrix, per-class accuracy and the misclassified examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import K_CLASSES


def accuracy(y_true, y_pred):
    """Fraction of labels (N,) predicted right."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else float("nan")


def confusion_matrix(y_true, y_pred, k=K_CLASSES):
    """(k, k) counts: row = true class, column = predicted class."""
    return np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(k, k)


def per_class_accuracy(cm):
    """Recall per true class from a confusion matrix: cm[i, i] / sum_j cm[i, j] (nan for an absent class)."""
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)


@dataclass(frozen=True)
class Mistakes:
    """Misclassified examples, most confident first. All arrays (M,)."""

    index: np.ndarray  # row in the evaluated set
    true: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray  # the predicted class's probability

    def __len__(self):
        return len(self.index)

    def filter(self, true=None, predicted=None):
        """Only the mistakes with this true and/or predicted label."""
        keep = np.ones(len(self), bool)
        if true is not None:
            keep &= self.true == true
        if predicted is not None:
            keep &= self.predicted == predicted
        return Mistakes(self.index[keep], self.true[keep], self.predicted[keep], self.confidence[keep])


def misclassified(probs, y_true):
    """Mistakes of probabilities (N, K) against labels (N,), sorted by confidence, highest first."""
    y_true = np.asarray(y_true)
    pred = np.argmax(probs, axis=1)
    wrong = np.flatnonzero(pred != y_true)
    conf = probs[wrong, pred[wrong]]
    order = np.argsort(-conf, kind="stable")
    idx = wrong[order]
    return Mistakes(idx, y_true[idx], pred[idx], conf[order])
