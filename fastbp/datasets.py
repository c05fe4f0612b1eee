"""Data sets: the 8x8 digits carried inside the package, Fashion-MNIST (from Debian's
package, a cache or a verified download), and a seeded split."""

import gzip
import hashlib
import os
import shutil
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from ._sparse import is_sparse
from ._validation import check_int
from .idx import open_maybe_gzip, read_idx


def load_digits():
    """The 1,797 8x8 images of hand-written digits (UCI ML data set, as in scikit-learn).

    Returns
    -------
    X : ndarray of float32, shape (1797, 64)
        Pixel intensities scaled from 0..16 to [0, 1].
    y : ndarray of int64, shape (1797,)
        Digit labels 0..9.
    """
    with (resources.files("fastbp").joinpath("data/digits.npz").open("rb") as f,
          np.load(f) as data):
        images, target = data["images"], data["target"]
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(16)
    return X, target.astype(np.int64)


def train_test_split(X, y, test_size=0.25, seed=0, stratify=None):
    """A shuffled split, stratified by class label when y holds labels.

    Parameters
    ----------
    X, y : array-like with the same number of samples
    test_size : float in (0, 1)
        The test set's share of the samples (of each class, when stratified).
    seed : int or None
    stratify : None, bool or array-like of shape (n_samples,)
        None: stratified by y when y holds class labels (1-D integers, booleans or
        strings), a plain shuffled split otherwise (float targets are values, as
        scikit-learn reads them); True: by y; False: never; an array: by its labels.
        A plain split keeps at least one sample on each side.

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1; got {test_size}")
    y = np.asarray(y)
    if not is_sparse(X):  # a SciPy sparse X is split as it is (row indexing)
        X = np.asarray(X)
    if X.shape[0] != len(y):
        raise ValueError(f"X has {X.shape[0]} samples but y has {len(y)}")
    groups = _strata(y, stratify)
    rng = np.random.default_rng(None if seed is None else check_int(seed, "seed"))
    is_test = np.zeros(len(y), dtype=bool)
    if groups is None:
        if len(y) < 2:
            raise ValueError(f"a split needs at least 2 samples; got {len(y)}")
        n_test = min(max(round(test_size * len(y)), 1), len(y) - 1)
        is_test[rng.permutation(len(y))[:n_test]] = True
    else:
        for label in np.unique(groups):
            members = rng.permutation(np.flatnonzero(groups == label))
            is_test[members[:round(test_size * len(members))]] = True
        if is_test.all() or not is_test.any():
            raise ValueError(f"a split stratified by class label with test_size={test_size} "
                             f"leaves no {'training' if is_test.all() else 'test'} samples "
                             f"({len(y)} samples in {len(np.unique(groups))} classes); "
                             f"pass stratify=False or more samples")
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(np.flatnonzero(is_test))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


def _strata(y, stratify):
    """The labels to stratify by, or None for a plain split."""
    if stratify is None:
        return y if y.ndim == 1 and y.dtype.kind in "biuUS" else None
    if isinstance(stratify, (bool, np.bool_)):
        if stratify and y.ndim != 1:
            raise ValueError(f"stratify=True needs 1-D class labels y; got shape {y.shape}")
        return y if stratify else None
    groups = np.asarray(stratify)
    if groups.shape != (len(y),):
        raise ValueError(f"stratify must be None, a bool or one label per sample, shape "
                         f"({len(y)},); got shape {groups.shape}")
    return groups


# Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist;
# MIT licence). Debian's package dataset-fashion-mnist installs the four files here, gzipped.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# SHA-256 of each file's uncompressed IDX bytes. Checked after decompression, because
# the gzip bytes differ between copies (Debian recompressed the originals) while the
# data does not; computed from Debian's files, and for the labels also matched against
# the originals in the upstream repository.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
# Samples per split; the tests shrink these to load small files.
FASHION_MNIST_SIZES = {"train": 60_000, "t10k": 10_000}


def load_fashion_mnist(data_home=None, download=True):
    """The Fashion-MNIST images of clothing: 70,000 28x28 grey-scale images in 10 classes.

    The four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or with ``.gz``)
    are taken from the first of these directories that holds all four:

    1. ``/usr/share/datasets/fashion-mnist``, where Debian's ``dataset-fashion-mnist``
       package installs them (``apt install dataset-fashion-mnist``);
    2. the cache: `data_home`, else ``$FASTBP_DATA``, else ``~/.cache/fastbp/fashion-mnist``
       (the files sit directly in it).

    Otherwise, if `download` is true, the missing files are downloaded as ``.gz`` from the
    official source into the cache, each checked against a SHA-256 checksum of its data
    before it is given its final name.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        The cache directory.
    download : bool, optional
        Download missing files (about 30 MB in all).

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        ``X_train`` float32, shape (60000, 784), and ``X_test`` float32, shape
        (10000, 784): pixel intensities scaled from 0..255 to [0, 1], each row a 28x28
        image in row-major order. ``y_train`` int64, shape (60000,), and ``y_test``
        int64, shape (10000,): class labels 0..9 (T-shirt/top, Trouser, Pullover,
        Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).

    Raises
    ------
    FileNotFoundError
        If the files are not found and `download` is false.
    ValueError
        If a download fails its checksum (the file is deleted), or a file does not hold
        the expected arrays.
    """
    cache = Path(data_home or os.environ.get("FASTBP_DATA") or
                 Path.home() / ".cache" / "fastbp" / "fashion-mnist").expanduser()
    candidates = {directory: {name: _find(directory, name) for name in FASHION_MNIST_SHA256}
                  for directory in (Path(DEBIAN_FASHION_MNIST_DIR), cache)}
    found = next((paths for paths in candidates.values() if all(paths.values())), None)
    if found is None:
        if not download:
            raise FileNotFoundError(
                f"Fashion-MNIST not found in {DEBIAN_FASHION_MNIST_DIR} or {cache}; "
                "install Debian's dataset-fashion-mnist package or pass download=True")
        cache.mkdir(parents=True, exist_ok=True)
        found = {name: path or _download(name, cache)
                 for name, path in candidates[cache].items()}
    return tuple(_load_split(found, split) for split in FASHION_MNIST_SIZES)


def _find(directory, name):
    """The path of `name` or `name`.gz in `directory`, or None."""
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _fetch(url, destination):
    """Download `url` into the file `destination` (the tests replace this function)."""
    import urllib.request  # here: its imports (http, email) cost 30 ms of every import

    with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as f:
        shutil.copyfileobj(response, f)


def _download(name, directory):
    """Download `name`.gz into `directory` and verify it; returns its path."""
    url = FASHION_MNIST_URL + name + ".gz"
    final = directory / (name + ".gz")
    partial = directory / f"{name}.gz.{os.getpid()}.part"
    try:
        _fetch(url, partial)
        _verify(partial, FASHION_MNIST_SHA256[name], url)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _verify(path, expected, url):
    """Check the SHA-256 of a file's bytes, after decompression if it is gzipped."""
    digest = hashlib.sha256()
    try:
        with open_maybe_gzip(path) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{url}: download is corrupt ({exc}); file deleted") from None
    if digest.hexdigest() != expected:
        raise ValueError(f"{url}: checksum mismatch: SHA-256 of the data is "
                         f"{digest.hexdigest()}, expected {expected}; file deleted")


def _load_split(paths, split):
    """Images scaled to [0, 1] and flattened, and int64 labels, checked."""
    images = read_idx(paths[f"{split}-images-idx3-ubyte"])
    labels = read_idx(paths[f"{split}-labels-idx1-ubyte"])
    n = FASHION_MNIST_SIZES[split]
    if images.dtype != np.uint8 or images.shape != (n, 28, 28):
        raise ValueError(f"{paths[f'{split}-images-idx3-ubyte']}: expected uint8 images of "
                         f"shape ({n}, 28, 28); got {images.dtype}, {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != (n,) or (labels > 9).any():
        raise ValueError(f"{paths[f'{split}-labels-idx1-ubyte']}: expected {n} uint8 labels "
                         f"0..9; got {labels.dtype}, shape {labels.shape}, "
                         f"maximum {labels.max(initial=0)}")
    X = images.reshape(n, 784).astype(np.float32)
    X /= np.float32(255)
    return X, labels.astype(np.int64)
