"""Command line: ``python -m mlp train ...`` and ``python -m mlp evaluate ...``."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np

from .core import LETTERS
from .data import DataError, default_data_path, load_dataset, split_dataset
from .metrics import accuracy, confusion_matrix, per_class_accuracy
from .model_io import load_model, save_model
from .network import predict
from .train import INITS, PRESETS, Trainer


def batch_size_arg(text):
    """'full' -> None (full batch), else a positive integer."""
    if text.lower() == "full":
        return None
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("batch size must be 'full' or a positive integer")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m mlp", description="Train and evaluate the numpy 784-H-10 MLP.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a network and report train/valid/test accuracy")
    train.add_argument("--data", help="a .npz, a notMNIST_small folder or .tar.gz (default: data/)")
    train.add_argument("--preset", choices=sorted(PRESETS), default="assignment")
    train.add_argument("--hidden", type=int, help="hidden units H")
    train.add_argument("--lr", type=float, help="learning rate alpha")
    train.add_argument("--momentum", type=float, help="momentum gamma")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=batch_size_arg, default=False, help="'full' or a number")
    train.add_argument("--seed", type=int, help="seed of the weight initialisation and mini-batch order")
    train.add_argument("--dtype", choices=("float32", "float64"), help="the precision of the arithmetic")
    train.add_argument("--init", choices=INITS, help="first weights: fresh RandomState(seed), or the report's stream "
                       "(its load_data shuffle replayed first; the Assignment preset's)")
    train.add_argument("--out", help="save the trained model to this .npz")
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    evaluate = sub.add_parser("evaluate", help="accuracy and confusion matrix of a saved model")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", help="as for train (default: data/)")
    evaluate.add_argument("--part", choices=("train", "valid", "test"), default="test")
    return parser


def hyper_from_args(args):
    """The preset's hyperparameters with every flag given on the command line applied."""
    names = ("hidden", "lr", "momentum", "epochs", "seed", "dtype", "init")
    changes = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.batch_size is not False:  # False: not given, keep the preset's
        changes["batch_size"] = args.batch_size
    return replace(PRESETS[args.preset], **changes)


def load_split(path, dtype):
    dataset = load_dataset(path or default_data_path())
    skipped = f", {dataset.skipped} unreadable skipped" if dataset.skipped else ""
    print(f"data: {dataset.name}, {len(dataset)} images{skipped}")
    return split_dataset(dataset.images, dataset.labels, dtype=dtype)


def format_record(r, total):
    return (
        f"epoch {r['epoch']:4d}/{total}  train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f}  "
        f"valid loss {r['valid_loss']:.4f} acc {r['valid_acc']:.4f}  {r['seconds']:.2f} s"
    )


def cmd_train(args):
    hyper = hyper_from_args(args)
    split = load_split(args.data, np.dtype(hyper.dtype))
    print(f"train/valid/test: {len(split.y_train)}/{len(split.y_valid)}/{len(split.y_test)}; {hyper}")
    start = time.perf_counter()  # from the network's initialisation on, as a run on the training page
    trainer = Trainer(split.x_train, split.y_train, split.x_valid, split.y_valid, hyper, n_data=len(split.order))
    trainer.run(None if args.quiet else lambda r: print(format_record(r, hyper.epochs), flush=True))
    seconds = time.perf_counter() - start
    reason = trainer.stop_reason()
    if reason:
        print(f"stopped: {reason}. The learning rate is too high for this batch size: try a smaller one.")
        return 1
    last = trainer.history[-1]
    start = time.perf_counter()
    test_acc = accuracy(split.y_test, predict(trainer.params, split.x_test))
    test_seconds = time.perf_counter() - start
    print(f"trained {trainer.epoch} epochs in {seconds:.2f} s")
    print(f"final train accuracy {last['train_acc']:.4f}, validation accuracy {last['valid_acc']:.4f} "
          f"(epoch {last['epoch']}'s forward pass, as in the report)")
    print(f"test accuracy {test_acc:.4f} (final weights; {len(split.y_test)} images in {test_seconds:.2f} s)")
    if args.out:
        save_model(args.out, trainer.params, hyper, trainer.history)
        print(f"model saved to {args.out}")
    return 0


def format_confusion(cm):
    header = "true\\pred " + " ".join(f"{c:>5}" for c in LETTERS)
    rows = [f"{LETTERS[i]:>9} " + " ".join(f"{v:5d}" for v in row) for i, row in enumerate(cm)]
    return "\n".join([header, *rows])


def cmd_evaluate(args):
    model = load_model(args.model, args.model)
    split = load_split(args.data, np.float64 if model.hyper.dtype == "float64" else np.float32)
    x, y, _ = split.part(args.part)
    pred = predict(model.params, x)
    cm = confusion_matrix(y, pred)
    print(f"model: {args.model} ({model.params.sizes[1]} hidden units, {len(model.history)} epochs trained)")
    print(f"{args.part} accuracy {accuracy(y, pred):.4f} on {len(y)} images")
    print(format_confusion(cm))
    print("per-class accuracy: " + "  ".join(f"{c} {a:.3f}" for c, a in zip(LETTERS, per_class_accuracy(cm))))
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate}[args.command](args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
