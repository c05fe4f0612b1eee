"""Saving and loading networks as self-describing ``.npz`` files, without pickle.

A model file is an uncompressed NumPy ``.npz`` archive (``np.savez``) with these entries:

================  ==============================================================
``format``        ``"fastbp-model"`` (0-d unicode)
``format_version``  ``1`` (0-d int64)
``sizes``         layer sizes ``(n_0, ..., n_L)`` (int64)
``activations``   the L activation names, hidden layers then output (unicode)
``dtype``         ``"float32"`` or ``"float64"`` (0-d unicode)
``cost``          the cost name (0-d unicode); only when one was given
``W1`` .. ``WL``  weights, shape ``(n_l, n_{l-1})``, in ``dtype``
``b1`` .. ``bL``  biases, shape ``(n_l,)``, in ``dtype``
``opt/<name>``    optimiser state, one array per name; only when given
``extra/<name>``  anything else the caller stored, one array per name
``checksum``      SHA-256 of all other entries, 64 hex digits (0-d unicode)
================  ==============================================================

The checksum covers every entry but itself, in sorted order of name; for each entry it
hashes, each preceded by its length as 8 little-endian bytes: the name in UTF-8, the
dtype string (``arr.dtype.str``, e.g. ``"<f4"``), the shape as little-endian uint64s,
and the array's bytes in C order. The hash is seeded with ``b"fastbp-model/1\\0"``.

Files are read with ``np.load(..., allow_pickle=False)``: loading never unpickles, so
never runs code stored in a file. Before anything is read, the archive's directory is
checked against what ``np.savez`` writes: members named ``<entry>.npy`` once each, stored
uncompressed, each exactly as long as its ``.npy`` header says, within the file's size.
So a crafted file cannot make ``load`` inflate or allocate more than the file holds.
"""

import contextlib
import hashlib
import math
import os
import re
import secrets
import zipfile
from dataclasses import dataclass

import numpy as np

from .kernels.costs import COSTS
from .network import Network

__all__ = ["FORMAT", "FORMAT_VERSION", "LoadedModel", "ModelFileError", "load", "save"]

FORMAT = "fastbp-model"
FORMAT_VERSION = 1

_OPT, _EXTRA = "opt/", "extra/"
_HEADER_KEYS = {"format", "format_version", "sizes", "activations", "dtype", "cost",
                "checksum"}
# Kinds of array a file may hold: bool, integers, floats, complex, bytes, unicode and
# datetimes; never objects (they need pickle) or structured types.
_PLAIN_KINDS = "biufcSUmM"
# The longest .npy header np.load reads without allow_pickle (NumPy's own default).
_MAX_HEADER = 10000


class ModelFileError(ValueError):
    """A file is not a fastbp model file, is damaged, or cannot be read by this version."""


@dataclass(frozen=True)
class LoadedModel:
    """What :func:`load` returns.

    Attributes
    ----------
    network : Network
        The network, with the saved sizes, activations, dtype and parameters.
    cost : str or None
        The cost name given to :func:`save`, if any.
    optimizer_state : dict of str to ndarray
        The optimiser state given to :func:`save`; empty if none was.
    extra : dict of str to ndarray or NumPy scalar
        The ``extra`` entries given to :func:`save` (scalars come back as NumPy scalars,
        e.g. ``np.int64(7)``); empty if none were.
    format_version : int
        The version of the file's format.
    """

    network: Network
    cost: object
    optimizer_state: dict
    extra: dict
    format_version: int


def save(network, path, *, cost=None, optimizer_state=None, extra=None):
    """Write a network (and optionally its cost, optimiser state and more) to a file.

    The file is written atomically: to a temporary file in the same directory, flushed
    and synced to disk, then renamed onto ``path``. A crash at any moment leaves either
    the previous file at ``path`` or the new one, never a partial file.

    Parameters
    ----------
    network : Network
        The network to save.
    path : str or os.PathLike
        Where to write. Used exactly as given: no ``.npz`` suffix is added. An existing
        file (or symbolic link) at ``path`` is replaced.
    cost : str or None
        The cost the network is trained with, one of ``cross_entropy``,
        ``binary_cross_entropy``, ``quadratic``.
    optimizer_state : dict of str to array_like, optional
        Optimiser buffers (momentum, moments, step counts ...), stored as ``opt/<name>``.
    extra : dict of str to array_like or scalar, optional
        Anything else worth keeping (epoch, history, labels ...), stored as
        ``extra/<name>``. Values must convert to plain NumPy arrays (numbers, booleans,
        strings, datetimes); object arrays are refused.

    Raises
    ------
    TypeError
        ``network`` is not a Network, or a value cannot be stored without pickle.
    ValueError
        Unknown ``cost``, or an empty name in ``optimizer_state`` or ``extra``.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a fastbp Network; got {type(network).__name__}")
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "sizes": np.array(network.sizes, dtype=np.int64),
        "activations": np.array(network.activations, dtype=str),
        "dtype": np.array(network.dtype.name),
    }
    if cost is not None:
        if not isinstance(cost, str) or cost not in COSTS:
            raise ValueError(f"cost must be one of {sorted(COSTS)} or None; got {cost!r}")
        arrays["cost"] = np.array(cost)
    for l in range(network.n_layers):
        # weights[l] and biases[l] are views into the padded parameter vector.
        arrays[f"W{l + 1}"] = np.array(network.weights[l], order="C", copy=True)
        arrays[f"b{l + 1}"] = np.array(network.biases[l], order="C", copy=True)
    for prefix, entries, what in ((_OPT, optimizer_state, "optimizer_state"),
                                  (_EXTRA, extra, "extra")):
        for name, value in (entries or {}).items():
            arrays[prefix + _check_name(name, what)] = _plain_array(value, f"{what}[{name!r}]")
    arrays["checksum"] = np.array(_checksum(arrays))
    _write_atomically(os.fsdecode(os.fspath(path)), arrays)


def load(path):
    """Read a model file written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike
        The file, used exactly as given.

    Returns
    -------
    LoadedModel
        ``network``, ``cost``, ``optimizer_state``, ``extra`` and ``format_version``.

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (other errors opening it also propagate as ``OSError``).
    ModelFileError
        Not a zip/``.npz`` file, truncated or damaged, a ``.npz`` from elsewhere, a newer
        format version, a checksum mismatch (the contents were altered), an entry that
        would need pickle, or contents that do not describe a valid network.
    """
    path = os.fsdecode(os.fspath(path))
    with open(path, "rb") as file:
        arrays = _read_npz(file, path)

    def fail(reason):
        return ModelFileError(f"{path}: {reason}")

    if "format" not in arrays:
        raise fail("not a fastbp model file (no 'format' entry)")
    name = _text(arrays["format"])
    if name != FORMAT:
        found = "not a string" if name is None else repr(name)
        raise fail(f"not a fastbp model file (format is {found}, expected {FORMAT!r})")
    version = arrays.get("format_version")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise fail("missing or malformed 'format_version'")
    version = int(version)
    if version > FORMAT_VERSION:
        raise fail(f"format version {version} is newer than this fastbp supports "
                   f"(up to {FORMAT_VERSION}); upgrade fastbp to read it")
    if version < 1:
        raise fail(f"invalid format version {version}")
    if "checksum" not in arrays:
        raise fail("no 'checksum' entry")
    if _text(arrays["checksum"]) != _checksum(arrays):
        raise fail("checksum mismatch: the file was altered or damaged")
    try:
        network = _network(arrays)
    except (ValueError, TypeError) as error:
        raise fail(f"inconsistent contents: {error}") from None
    cost = _text(arrays["cost"]) if "cost" in arrays else None
    if "cost" in arrays and cost not in COSTS:
        found = "not a string" if cost is None else repr(cost)
        raise fail(f"inconsistent contents: cost is {found}; expected one of "
                   f"{sorted(COSTS)}")
    optimizer_state = {k[len(_OPT):]: v for k, v in arrays.items() if k.startswith(_OPT)}
    extra = {k[len(_EXTRA):]: (v[()] if v.ndim == 0 else v)
             for k, v in arrays.items() if k.startswith(_EXTRA)}
    return LoadedModel(network, cost, optimizer_state, extra, version)


def _check_name(name, what):
    if not isinstance(name, str):
        raise TypeError(f"{what} names must be strings; got {name!r}")
    if not name:
        raise ValueError(f"{what} names must not be empty")
    if "\0" in name:  # a zip member's name ends at the first NUL
        raise ValueError(f"{what} names must not contain NUL characters; got {name!r}")
    return name


def _plain_array(value, name):
    """``value`` as an array that NumPy writes and reads back without pickle."""
    array = np.asarray(value)
    if array.dtype.kind not in _PLAIN_KINDS or array.dtype.fields is not None:
        raise TypeError(f"{name} must be numbers, booleans, strings or datetimes; "
                        f"got an array of dtype {array.dtype}")
    return array


def _checksum(arrays):
    """SHA-256 (hex) of every entry but ``checksum``; see the module docstring."""
    digest = hashlib.sha256(b"fastbp-model/1\0")
    for name in sorted(arrays):
        if name == "checksum":
            continue
        array = np.ascontiguousarray(arrays[name])
        for part in (name.encode("utf-8", "surrogatepass"), array.dtype.str.encode("ascii"),
                     np.array(array.shape, dtype="<u8").tobytes(), array.tobytes()):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
    return digest.hexdigest()


def _write_atomically(path, arrays):
    directory = os.path.dirname(path) or os.curdir
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:  # a fresh name; 0o666 lets the umask set the mode, as for open()
        temporary = os.path.join(directory, f".{os.path.basename(path)}."
                                            f"{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _fsync_directory(directory)
    _remove_stale_temporaries(directory, os.path.basename(path))


def _remove_stale_temporaries(directory, name):
    """Remove the temporary files of earlier writes of ``name`` that a kill left behind
    (``.<name>.<12 hex digits>.tmp``). Called after a successful write; a concurrent
    writer of the same file loses its temporary file and its write fails cleanly."""
    stale = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp", re.DOTALL)
    try:
        leftovers = [entry.path for entry in os.scandir(directory)
                     if stale.fullmatch(entry.name)]
    except OSError:
        return
    for leftover in leftovers:
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            os.remove(leftover)


def _fsync_directory(directory):
    """Make the rename durable; not possible on every system (e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_npz(file, path):
    """All entries of an ``.npz`` file as a dict; any failure as a ModelFileError."""
    if file.read(4) != b"PK\x03\x04":
        raise ModelFileError(f"{path}: not a fastbp model file (not an .npz/zip archive)")
    file.seek(0)
    _check_members(file, path)
    file.seek(0)
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as error:  # BadZipFile, bad CRC, truncated entry, object array ...
        raise ModelFileError(f"{path}: truncated, damaged or unreadable .npz file "
                             f"({type(error).__name__}: {error})") from None
    # np.load returns the raw bytes of a member that is not in .npy format.
    raw = sorted(name for name, value in arrays.items() if not isinstance(value, np.ndarray))
    if raw:
        raise ModelFileError(f"{path}: not a fastbp model file (entries {raw} are not "
                             f"NumPy arrays)")
    return arrays


def _check_members(file, path):
    """Refuse an archive whose directory is not what ``save`` writes (see the module
    docstring), reading only the directory and each member's ``.npy`` header."""
    def fail(reason):
        return ModelFileError(f"{path}: not a fastbp model file ({reason})")

    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError,
            EOFError) as error:
        raise ModelFileError(f"{path}: truncated, damaged or unreadable .npz file "
                             f"({type(error).__name__}: {error})") from None
    with archive:
        seen, total = set(), 0
        for info in archive.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise fail(f"member {name[:80]!r} is not a NumPy array")
            if name in seen:
                raise fail(f"member {name[:80]!r} appears twice")
            seen.add(name)
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                raise fail(f"member {name[:80]!r} is compressed; model files store members "
                           f"uncompressed")
            total += info.file_size
            if total > size:
                raise fail(f"its members declare {total} bytes, more than the file's {size}")
            try:
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                                   (2, 0): np.lib.format.read_array_header_2_0}[version]
                    shape, _, dtype = read_header(member, max_header_size=_MAX_HEADER)
                    header = member.tell()
            except Exception as error:
                raise fail(f"member {name[:80]!r} is not a NumPy array "
                           f"({type(error).__name__}: {str(error)[:200]})") from None
            if dtype.hasobject:
                raise fail(f"member {name[:80]!r} holds Python objects, which only pickle "
                           f"could read")
            if header + math.prod(shape) * dtype.itemsize != info.file_size:
                raise fail(f"member {name[:80]!r} declares shape {shape} of {dtype}, which "
                           f"does not match its {info.file_size} bytes")


def _text(array):
    """The string in a 0-d unicode array, or None if it is not one."""
    if not isinstance(array, np.ndarray) or array.shape != () or array.dtype.kind != "U":
        return None
    return str(array)


def _network(arrays):
    """The Network the entries describe; ValueError or TypeError if they do not."""
    sizes, activations = arrays.get("sizes"), arrays.get("activations")
    if sizes is None or sizes.ndim != 1 or sizes.dtype.kind not in "iu" or sizes.size < 2:
        raise ValueError("'sizes' must be at least 2 integers")
    sizes = [int(n) for n in sizes]
    n_layers = len(sizes) - 1
    if activations is None or activations.dtype.kind != "U" or activations.shape != (n_layers,):
        raise ValueError(f"'activations' must be {n_layers} names")
    dtype_name = _text(arrays.get("dtype"))
    if dtype_name not in ("float32", "float64"):
        raise ValueError(f"'dtype' must be 'float32' or 'float64'; got {dtype_name!r}")
    dtype = np.dtype(dtype_name)

    layers = [f"{kind}{l}" for l in range(1, n_layers + 1) for kind in "Wb"]
    unexpected = sorted(k for k in arrays if k not in _HEADER_KEYS and k not in layers
                        and not k.startswith((_OPT, _EXTRA)))
    if unexpected:
        raise ValueError(f"unexpected entries {unexpected}")
    # Check shapes before building the network, so the sizes cannot ask for more memory
    # than the file holds.
    for l in range(1, n_layers + 1):
        for key, shape in ((f"W{l}", (sizes[l], sizes[l - 1])), (f"b{l}", (sizes[l],))):
            if key not in arrays:
                raise ValueError(f"no entry {key!r}")
            array = arrays[key]
            if array.shape != shape:
                raise ValueError(f"{key} has shape {array.shape}; sizes {sizes} need {shape}")
            if array.dtype.kind != "f" or array.dtype.itemsize != dtype.itemsize:
                raise ValueError(f"{key} has dtype {array.dtype}; expected {dtype}")

    names = [str(name) for name in activations]
    network = Network(sizes, activation=names[:-1], output_activation=names[-1], dtype=dtype)
    network.weights = [arrays[f"W{l}"] for l in range(1, n_layers + 1)]
    network.biases = [arrays[f"b{l}"] for l in range(1, n_layers + 1)]
    return network
