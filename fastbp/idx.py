"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file holds one array: two zero bytes, a type code, the number of dimensions,
each dimension as a big-endian uint32, then the values in C order, big-endian. Files
may be gzip-compressed; `read_idx` recognises that by the gzip magic bytes, whatever
the file's name.
"""

import gzip
import os
import struct
import zlib

import numpy as np

# IDX type code -> big-endian dtype of the data.
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def open_maybe_gzip(path):
    """Open `path` for binary reading, through gzip if it starts with the gzip magic bytes."""
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb")


def read_idx(path):
    """Read an IDX file, plain or gzip-compressed.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Compression is detected from its first bytes, not its name.

    Returns
    -------
    ndarray
        The array, with the file's shape and a native-byte-order dtype: uint8, int8,
        int16, int32, float32 or float64.

    Raises
    ------
    ValueError
        If the file is not IDX (bad magic, unknown type code), its data does not match
        the dimensions in its header (truncated, or trailing bytes), or its gzip stream
        is corrupt. The message names the file.
    """
    try:
        with open_maybe_gzip(path) as f:
            return _read(f, os.fspath(path))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{os.fspath(path)}: corrupt gzip data ({exc})") from None


def _read(f, name):
    """Parse an open IDX stream; `name` is the file name for error messages."""
    header = f.read(4)
    if len(header) < 4 or header[:2] != b"\0\0":
        raise ValueError(f"{name}: not an IDX file (the first two bytes must be zero)")
    code, ndim = header[2], header[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX type code 0x{code:02X}; "
                         f"expected one of {', '.join(f'0x{c:02X}' for c in IDX_TYPES)}")
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{name}: truncated header ({ndim} dimensions announced)")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_TYPES[code]
    try:
        array = np.empty(shape, dtype=dtype)
    except (MemoryError, ValueError):
        raise ValueError(f"{name}: cannot allocate an array of shape {shape} "
                         f"as its header announces") from None
    got = _read_into(f, memoryview(array.reshape(-1).view(np.uint8)))
    if got < array.nbytes:
        raise ValueError(f"{name}: truncated data: {got} bytes where shape {shape} "
                         f"of {dtype.newbyteorder('=')} needs {array.nbytes}")
    if f.read(1):
        raise ValueError(f"{name}: trailing bytes after the {array.nbytes} bytes of data "
                         f"for shape {shape} of {dtype.newbyteorder('=')}")
    if not dtype.isnative:
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array


def _read_into(f, buffer):
    """Fill `buffer` from `f` as far as the file goes; returns the number of bytes read."""
    total = 0
    while total < len(buffer):
        n = f.readinto(buffer[total:])
        if not n:
            break
        total += n
    return total


def write_idx(path, array, compress=False):
    """Write an array as an IDX file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create (or overwrite).
    array : array_like
        Values of dtype uint8, int8, int16, int32, float32 or float64 (any byte order),
        with at least one dimension, each below 2**32.
    compress : bool, optional
        Gzip-compress the file (the name is not changed; add ``.gz`` yourself).

    Raises
    ------
    TypeError
        If the dtype has no IDX type code.
    ValueError
        If the array has no dimensions or a dimension of 2**32 or more.
    """
    array = np.asarray(array)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"array must have dtype uint8, int8, int16, int32, float32 or "
                        f"float64 to be written as IDX; got {array.dtype}")
    if array.ndim == 0 or max(array.shape) >= 2**32:
        raise ValueError(f"array must have 1 to 255 dimensions, each below 2**32; "
                         f"got shape {array.shape}")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    data = array.astype(IDX_TYPES[code], copy=False).tobytes(order="C")
    # mtime=0: the same array always gives the same bytes.
    with (gzip.GzipFile(path, "wb", mtime=0) if compress else open(path, "wb")) as f:
        f.write(header)
        f.write(data)
