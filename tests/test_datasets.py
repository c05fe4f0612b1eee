import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from fastbp import datasets
from fastbp.datasets import load_digits, load_fashion_mnist, train_test_split
from fastbp.idx import read_idx, write_idx

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(7,), (3, 5), (4, 2, 3), (0,), (2, 0, 3)]
NAMES = list(datasets.FASHION_MNIST_SHA256)


def sample(dtype, shape, rng):
    """Values that use the whole range of `dtype`, so a byte-order slip would show."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return (rng.standard_normal(shape) * 1e3).astype(dtype)


# --- IDX ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", IDX_DTYPES)
def test_idx_round_trip(tmp_path, rng, dtype, shape, compress):
    array = sample(dtype, shape, rng)
    path = tmp_path / "a.idx"                  # no .gz even when compressed: magic decides
    write_idx(path, array, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0                              # writable, not a view of a read-only buffer


def test_idx_layout_is_big_endian(tmp_path):
    path = tmp_path / "a.idx"
    write_idx(path, np.array([[1, 2, 3], [4, 5, 6]], dtype="<i4"))
    assert path.read_bytes() == (b"\0\0\x0c\x02" + struct.pack(">II", 2, 3)
                                 + struct.pack(">6i", 1, 2, 3, 4, 5, 6))


def test_idx_reads_a_hand_made_file(tmp_path):
    path = tmp_path / "a.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\0\0\x0b\x01" + struct.pack(">I", 3) + struct.pack(">3h", -2, 0, 300))
    np.testing.assert_array_equal(read_idx(path), np.array([-2, 0, 300], dtype=np.int16))


def test_write_idx_accepts_big_endian_and_non_contiguous_input(tmp_path):
    array = np.arange(12, dtype=">f8").reshape(3, 4).T
    write_idx(tmp_path / "a", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)


@pytest.mark.parametrize("array, error", [
    (np.zeros(3, dtype=np.int64), TypeError),
    (np.zeros(3, dtype=bool), TypeError),
    (np.zeros(3, dtype=np.float16), TypeError),
    (np.float32(1.0), ValueError),
])
def test_write_idx_rejects(tmp_path, array, error):
    with pytest.raises(error, match="array must"):
        write_idx(tmp_path / "a", array)


def corrupt(tmp_path, compress, edit):
    """A valid int16 file of shape (2, 3), with `edit` applied to its bytes."""
    path = tmp_path / "bad.idx"
    write_idx(path, np.arange(6, dtype=np.int16).reshape(2, 3))
    data = edit(path.read_bytes())
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("edit, message", [
    (lambda b: b"\0\1" + b[2:], "not an IDX file"),
    (lambda b: b"\x08\0" + b[2:], "not an IDX file"),
    (lambda b: b[:2], "not an IDX file"),
    (lambda b: b"", "not an IDX file"),
    (lambda b: b[:2] + b"\x0a" + b[3:], "unknown IDX type code 0x0A"),
    (lambda b: b[:2] + b"\xff" + b[3:], "unknown IDX type code 0xFF"),
    (lambda b: b[:10], "truncated header"),
    (lambda b: b[:-1], "truncated data: 11 bytes"),
    (lambda b: b[:12], "truncated data: 0 bytes"),
    (lambda b: b + b"\0", "trailing bytes"),
    (lambda b: b[:3] + b"\x01" + b[4:], "trailing bytes"),   # 1 dimension of 2: 8 bytes left
    (lambda b: b[:3] + b"\x03" + b[4:], "truncated"),
])
def test_read_idx_errors(tmp_path, compress, edit, message):
    path = corrupt(tmp_path, compress, edit)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "a.gz"
    write_idx(path, np.arange(1000, dtype=np.int32), compress=True)
    path.write_bytes(path.read_bytes()[:-20])          # stream cut short
    with pytest.raises(ValueError, match="corrupt gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


# --- Fashion-MNIST on small files ------------------------------------------------------

SMALL = {"train": 20, "t10k": 10}


@pytest.fixture
def small(monkeypatch, tmp_path):
    """No Debian files, small splits, no network: a `_fetch` that fails the test."""
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "no-debian"))
    monkeypatch.setattr(datasets, "FASHION_MNIST_SIZES", dict(SMALL))
    monkeypatch.delenv("FASTBP_DATA", raising=False)

    def no_network(url, destination):
        raise AssertionError(f"the test tried to download {url}")
    monkeypatch.setattr(datasets, "_fetch", no_network)


def small_arrays(seed=0):
    """name -> array for the four files, with SMALL sample counts."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in SMALL.items():
        arrays[f"{split}-images-idx3-ubyte"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}-labels-idx1-ubyte"] = (np.arange(n) % 10).astype(np.uint8)
    arrays["t10k-images-idx3-ubyte"][0, 0, 0] = 255     # the extremes of the range
    arrays["t10k-images-idx3-ubyte"][0, 0, 1] = 0
    return arrays


def write_small(directory, compress_names=(), arrays=None):
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in (arrays or small_arrays()).items():
        gz = name in compress_names
        write_idx(directory / (name + ".gz" if gz else name), array, compress=gz)


def check_small(result, arrays=None):
    arrays = arrays or small_arrays()
    (X_train, y_train), (X_test, y_test) = result
    for split, X, y in [("train", X_train, y_train), ("t10k", X_test, y_test)]:
        n = SMALL[split]
        assert X.dtype == np.float32 and X.shape == (n, 784)
        assert y.dtype == np.int64 and y.shape == (n,)
        images = arrays[f"{split}-images-idx3-ubyte"]
        np.testing.assert_array_equal(X, images.reshape(n, 784) / np.float32(255))
        np.testing.assert_array_equal(y, arrays[f"{split}-labels-idx1-ubyte"])
    assert X_test.min() == 0 and X_test.max() == 1


def test_fashion_from_data_home(small, tmp_path):
    write_small(tmp_path / "home", compress_names=NAMES[:2])     # plain and gzipped mixed
    check_small(load_fashion_mnist(data_home=tmp_path / "home", download=False))


def test_fashion_from_environment_and_default_cache(small, tmp_path, monkeypatch):
    write_small(tmp_path / "env")
    monkeypatch.setenv("FASTBP_DATA", str(tmp_path / "env"))
    check_small(load_fashion_mnist(download=False))
    monkeypatch.delenv("FASTBP_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_small(tmp_path / "home" / ".cache" / "fastbp" / "fashion-mnist")
    check_small(load_fashion_mnist(download=False))


def test_fashion_prefers_the_debian_directory(small, tmp_path, monkeypatch):
    debian, home = tmp_path / "debian", tmp_path / "home"
    write_small(debian, compress_names=NAMES, arrays=small_arrays(seed=1))
    write_small(home)
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST_DIR", str(debian))
    check_small(load_fashion_mnist(data_home=home), small_arrays(seed=1))
    # An incomplete Debian directory is passed over.
    (debian / (NAMES[0] + ".gz")).unlink()
    check_small(load_fashion_mnist(data_home=home))


def test_fashion_not_found(small, tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(data_home=tmp_path / "empty", download=False)


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.update({"train-images-idx3-ubyte": a["train-images-idx3-ubyte"][:-1]}),
     r"train-images-idx3-ubyte: expected uint8 images of shape \(20, 28, 28\)"),
    (lambda a: a.update({"t10k-images-idx3-ubyte": np.zeros((10, 28, 27), np.uint8)}),
     "t10k-images-idx3-ubyte: expected uint8 images"),
    (lambda a: a.update({"t10k-images-idx3-ubyte": np.zeros((10, 28, 28), np.float32)}),
     "t10k-images-idx3-ubyte: expected uint8 images"),
    (lambda a: a.update({"train-labels-idx1-ubyte": np.zeros(19, np.uint8)}),
     "train-labels-idx1-ubyte: expected 20 uint8 labels"),
    (lambda a: a["t10k-labels-idx1-ubyte"].__setitem__(3, 10),
     "t10k-labels-idx1-ubyte: expected 10 uint8 labels 0..9.*maximum 10"),
])
def test_fashion_rejects_wrong_arrays(small, tmp_path, edit, message):
    arrays = small_arrays()
    edit(arrays)
    write_small(tmp_path / "home", arrays=arrays)
    with pytest.raises(ValueError, match=message):
        load_fashion_mnist(data_home=tmp_path / "home", download=False)


def test_fashion_sizes_are_checked_at_their_real_values(small, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_SIZES", {"train": 60_000, "t10k": 10_000})
    write_small(tmp_path / "home")
    with pytest.raises(ValueError, match=r"shape \(60000, 28, 28\)"):
        load_fashion_mnist(data_home=tmp_path / "home", download=False)


# --- Fashion-MNIST download (no network: `_fetch` is replaced) -------------------------


def gz_bytes(array):
    """What the server would send for `array`: a gzipped IDX file."""
    return gzip.compress(idx_bytes(array))


def idx_bytes(array):
    """A uint8 array as IDX bytes."""
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape)
    return header + array.tobytes()


@pytest.fixture
def server(small, monkeypatch):
    """A fake official source serving the small files; records the URLs fetched."""
    arrays = small_arrays()
    files = {datasets.FASHION_MNIST_URL + name + ".gz": gz_bytes(a) for name, a in arrays.items()}
    monkeypatch.setattr(datasets, "FASHION_MNIST_SHA256", {
        name: hashlib.sha256(idx_bytes(a)).hexdigest() for name, a in arrays.items()})
    fetched = []

    def fetch(url, destination):
        fetched.append(url)
        Path(destination).write_bytes(files[url])
    monkeypatch.setattr(datasets, "_fetch", fetch)
    return files, fetched


def test_fashion_download(server, tmp_path):
    files, fetched = server
    home = tmp_path / "new" / "cache"                    # created on demand
    check_small(load_fashion_mnist(data_home=home))
    assert sorted(fetched) == sorted(files)
    assert sorted(p.name for p in home.iterdir()) == sorted(n + ".gz" for n in NAMES)
    for name in NAMES:                                  # stored as sent, under the final name
        assert (home / (name + ".gz")).read_bytes() == files[datasets.FASHION_MNIST_URL
                                                             + name + ".gz"]
    fetched.clear()
    check_small(load_fashion_mnist(data_home=home))     # cached: no second download
    assert fetched == []


def test_fashion_download_only_what_is_missing(server, tmp_path):
    files, fetched = server
    write_small(tmp_path / "home")
    (tmp_path / "home" / NAMES[1]).unlink()
    check_small(load_fashion_mnist(data_home=tmp_path / "home"))
    assert fetched == [datasets.FASHION_MNIST_URL + NAMES[1] + ".gz"]


def test_fashion_download_refused(server, tmp_path):
    _, fetched = server
    with pytest.raises(FileNotFoundError):
        load_fashion_mnist(data_home=tmp_path / "home", download=False)
    assert fetched == []


@pytest.mark.parametrize("tamper, message", [
    (lambda data: gzip.compress(gzip.decompress(data)[:-1] + b"\1"), "checksum mismatch"),
    (lambda data: data[:-30], "download is corrupt"),
    (lambda data: b"<html>Not found</html>", "checksum mismatch"),
])
def test_fashion_download_checksum_failure(server, tmp_path, tamper, message):
    files, _ = server
    url = datasets.FASHION_MNIST_URL + "t10k-images-idx3-ubyte.gz"
    files[url] = tamper(files[url])
    home = tmp_path / "home"
    with pytest.raises(ValueError, match=message) as info:
        load_fashion_mnist(data_home=home)
    assert url in str(info.value)
    # The bad file is gone, temporary name included; files verified before it stay.
    assert sorted(p.name for p in home.iterdir()) == sorted(n + ".gz" for n in NAMES[:2])


def test_fashion_download_failure_leaves_nothing(server, tmp_path, monkeypatch):
    def broken(url, destination):
        Path(destination).write_bytes(b"partial")
        raise OSError("connection reset")
    monkeypatch.setattr(datasets, "_fetch", broken)
    with pytest.raises(OSError, match="connection reset"):
        load_fashion_mnist(data_home=tmp_path / "home")
    assert list((tmp_path / "home").iterdir()) == []


# --- The real data, where Debian's dataset-fashion-mnist package is installed ------------

DEBIAN_FILES = [Path(datasets.DEBIAN_FASHION_MNIST_DIR) / (name + ".gz") for name in NAMES]
needs_debian = pytest.mark.skipif(not all(p.is_file() for p in DEBIAN_FILES),
                                  reason="Debian's dataset-fashion-mnist is not installed")


@needs_debian
def test_debian_files_match_the_checksums():
    for path, name in zip(DEBIAN_FILES, NAMES, strict=True):
        datasets._verify(path, datasets.FASHION_MNIST_SHA256[name], str(path))


@needs_debian
def test_real_fashion_mnist(tmp_path, monkeypatch):
    def no_network(url, destination):
        raise AssertionError(f"the test tried to download {url}")
    monkeypatch.setattr(datasets, "_fetch", no_network)
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist(data_home=tmp_path)
    assert X_train.shape == (60_000, 784) and X_test.shape == (10_000, 784)
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    for X in (X_train, X_test):
        assert X.min() == 0 and X.max() == 1
    np.testing.assert_array_equal(np.bincount(y_train), np.full(10, 6_000))
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 1_000))


# --- The 8x8 digits and the split -------------------------------------------------------


def test_load_digits():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 1 and set(np.unique(y)) == set(range(10))


def test_train_test_split_is_stratified_and_seeded():
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    assert len(X_train) + len(X_test) == len(X) and len(y_train) == len(X_train)
    np.testing.assert_allclose(np.bincount(y_test) / np.bincount(y), 0.25, atol=0.02)
    again = train_test_split(X, y, test_size=0.25, seed=0)
    np.testing.assert_array_equal(again[1], X_test)


def test_train_test_split_of_values_is_plain_and_never_empty():
    rng = np.random.default_rng(0)
    X = rng.random((40, 2))
    y = rng.random(40)  # continuous: every value its own "class"
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    assert (len(y_train), len(y_test)) == (30, 10)
    assert sorted(np.r_[y_train, y_test]) == sorted(y)
    for n, test_size in ((2, 0.1), (3, 0.9), (5, 0.01)):
        parts = train_test_split(X[:n], y[:n], test_size=test_size, seed=1)
        assert len(parts[1]) >= 1 and len(parts[0]) >= 1
    whole = np.arange(40.0)  # whole-valued floats are values too
    assert len(train_test_split(X, whole, seed=0)[1]) == 10
    with pytest.raises(ValueError, match="at least 2 samples"):
        train_test_split(X[:1], y[:1])


def test_train_test_split_stratifies_labels_or_as_asked():
    X, y = load_digits()
    default = train_test_split(X, y, seed=3)
    asked = train_test_split(X, y, seed=3, stratify=True)
    by_array = train_test_split(X, y, seed=3, stratify=y)
    for a, b in zip(default, asked):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(default, by_array):
        np.testing.assert_array_equal(a, b)
    names = np.array(["cat", "dog"])[y % 2]  # string labels are labels
    _, _, _, test_names = train_test_split(X, names, seed=0)
    assert abs(np.mean(test_names == "cat") - np.mean(names == "cat")) < 0.01
    plain = train_test_split(X, y, seed=3, stratify=False)
    assert len(plain[1]) == 449 and not np.array_equal(plain[1], default[1])
    with pytest.raises(ValueError, match=r"leaves no test samples.*stratify=False"):
        train_test_split(X[:5], np.arange(5), test_size=0.25)
    with pytest.raises(ValueError, match=r"stratify must be .* shape \(1797,\)"):
        train_test_split(X, y, stratify=y[:3])
    with pytest.raises(ValueError, match="stratify=True needs 1-D"):
        train_test_split(X, np.c_[y, y], stratify=True)
