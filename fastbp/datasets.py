"""Data sets: the 8x8 digits carried inside the package, and a seeded split."""

from importlib import resources

import numpy as np

from ._validation import check_int


def load_digits():
    """The 1,797 8x8 images of hand-written digits (UCI ML data set, as in scikit-learn).

    Returns
    -------
    X : ndarray of float32, shape (1797, 64)
        Pixel intensities scaled from 0..16 to [0, 1].
    y : ndarray of int64, shape (1797,)
        Digit labels 0..9.
    """
    with resources.files("fastbp").joinpath("data/digits.npz").open("rb") as f:
        with np.load(f) as data:
            images, target = data["images"], data["target"]
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(16)
    return X, target.astype(np.int64)


def train_test_split(X, y, test_size=0.25, seed=0):
    """A shuffled split, stratified by class label: each class is split in the same ratio.

    Returns ``X_train, X_test, y_train, y_test``.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1; got {test_size}")
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    rng = np.random.default_rng(None if seed is None else check_int(seed, "seed"))
    test = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test.extend(members[:int(round(test_size * len(members)))])
    is_test = np.zeros(len(y), dtype=bool)
    is_test[test] = True
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(np.flatnonzero(is_test))
    X = np.asarray(X)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]
