"""Sparse inputs: recognising a SciPy sparse X, checking it in place, and the rows of it
that training and evaluation take.

A CSR matrix's three arrays are what the kernels read (``kernels.structures.SparseSamples``,
see ``kernels.sparse``): they are checked where they are, and copied only where they must
be converted: ``data`` to the network's dtype; another format than CSR (CSC, COO, ...)
once to CSR, as ``X.tocsr()`` does. Nothing is densified. SciPy is needed only by whoever
passes a sparse matrix: it is not imported here.
"""

import sys

import numpy as np

from ._threads import max_threads, using_threads
from ._validation import _convert, check_input_shape
from .kernels.checks import csr_errors, max_abs_flat
from .kernels.structures import Samples, SparseSamples
from .pacing import threads_for_pass


def is_sparse(X):
    """Whether X is a SciPy sparse matrix or array (SciPy imported by whoever made it)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


class SparseRows:
    """Checked sparse inputs of shape ``(n_samples, n_features)``: the CSR arrays in the
    kernels' types. A slice of rows shares them (``indptr`` sliced: the kernels read
    ``indptr[r]:indptr[r + 1]`` of any row r, wherever ``indptr`` starts)."""

    def __init__(self, indptr, indices, data, n_features):
        self.indptr, self.indices, self.data = indptr, indices, data
        self.shape = (indptr.shape[0] - 1, int(n_features))
        self.dtype = data.dtype

    @property
    def nnz(self):
        return int(self.indptr[-1] - self.indptr[0])

    def __getitem__(self, rows):
        """Rows ``rows``: a slice (sharing the arrays) or integer indices (copied)."""
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.shape[0])
            if step != 1:
                raise ValueError("sparse rows are sliced with step 1")
            return SparseRows(self.indptr[start:max(start, stop) + 1], self.indices, self.data,
                              self.shape[1])
        rows = np.asarray(rows, dtype=np.int64)
        spans = [np.arange(self.indptr[r], self.indptr[r + 1]) for r in rows]
        taken = np.concatenate(spans) if spans else np.zeros(0, dtype=np.int64)
        indptr = np.zeros(rows.size + 1, dtype=self.indptr.dtype)
        np.cumsum([span.size for span in spans], out=indptr[1:])
        return SparseRows(indptr, self.indices[taken], self.data[taken], self.shape[1])


def check_sparse_inputs(X, n_features, dtype, name="X"):
    """A SciPy sparse X as (``SparseRows``, max |X|): CSR kept in place, another format
    converted once, values converted to ``dtype`` (a copy of ``data`` only) and checked
    finite, indices checked in bounds; int64 indices narrowed to int32 (a copy) where
    they fit, so that the kernels are compiled for one index type."""
    check_input_shape(X.shape, n_features, name, "a sparse array")
    if X.format != "csr":
        X = X.tocsr()  # CSC, COO, LIL, ...: one conversion (a copy)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got a sparse matrix of dtype {X.dtype}")
    indptr, indices = X.indptr, X.indices
    if indices.dtype == np.int64 and max(n_features, indices.size) < 2**31:
        # One compiled variant of the kernels serves: int32 where it holds (a copy).
        indptr, indices = indptr.astype(np.int32), indices.astype(np.int32)
    if not (indptr.shape == (X.shape[0] + 1,) and indptr.dtype == indices.dtype
            and indices.dtype in (np.int32, np.int64)
            and 0 <= indptr[0] <= indptr[-1] <= min(indices.size, X.data.size)):
        raise ValueError(f"{name} is not a well-formed CSR matrix (its indptr does not fit "
                         f"its indices and data)")
    data = X.data if X.data.dtype == dtype and X.data.dtype.isnative else _convert(X.data, dtype)
    with using_threads(threads_for_pass(indices.size, max_threads())):
        if csr_errors(indptr, indices, n_features):
            raise ValueError(f"{name} is not a well-formed CSR matrix: a row's indptr "
                             f"decreases or a column index is outside [0, {n_features})")
        largest = max_abs_flat(data[indptr[0]:indptr[-1]])
    if not largest < np.inf:
        raise ValueError(f"{name} contains NaN or infinity")
    return SparseRows(indptr, indices, data, n_features), largest


def as_sparse(X):
    """Dense checked inputs as ``SparseRows`` (for a network stored for sparse inputs)."""
    rows, columns = np.nonzero(X)
    index = np.int32 if max(X.shape[1], rows.size) < 2**31 else np.int64  # as SciPy's
    indptr = np.zeros(X.shape[0] + 1, dtype=index)
    np.cumsum(np.bincount(rows, minlength=X.shape[0]), out=indptr[1:])
    return SparseRows(indptr, columns.astype(index), np.ascontiguousarray(X[rows, columns]),
                      X.shape[1])


def samples_of(X, Y, weight, order):
    """The kernels' ``Samples``, or ``SparseSamples`` for ``SparseRows``."""
    if isinstance(X, SparseRows):
        return SparseSamples(X.indptr, X.indices, X.data, Y, weight, order)
    return Samples(X, Y, weight, order)
