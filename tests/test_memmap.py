"""Memory-mapped inputs are trained on in place, not copied whole into memory."""

import tracemalloc

import numpy as np
import pytest

from fastbp import Trainer


@pytest.mark.filterwarnings("ignore:X looks unscaled")  # raw pixels on purpose
def test_uint8_memmap_is_read_in_place(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(6000, 64))
    X[...] = rng.integers(0, 256, X.shape)
    X.flush()
    y = (X[:, 0] > 127).astype(int) + (X[:, 1] > 127)
    del X
    X = np.load(path, mmap_mode="r")   # read-only, as a data set on disk would be
    mapped = Trainer([64, 16, 3], seed=0, batch_size=32, learning_rate=1e-3)
    in_memory = Trainer([64, 16, 3], seed=0, batch_size=32, learning_rate=1e-3)
    mapped.fit(X, y, epochs=2)
    in_memory.fit(np.asarray(X, dtype=np.float32), y, epochs=2)
    # Rows converted as batches are gathered: the same bits as converting up front.
    np.testing.assert_array_equal(mapped.network.params, in_memory.network.params)
    assert mapped.history == in_memory.history
    assert mapped.evaluate(X, y) == in_memory.evaluate(np.asarray(X, np.float32), y)
    tracemalloc.start()
    mapped.fit(X, y, epochs=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    float_copy = X.size * 4
    assert peak < float_copy / 4, (peak, float_copy)  # targets and order: ~150 kB
