"""Checks at the public entry points: one clear message naming the argument and what
was expected."""

import numbers

import numpy as np

from ._threads import max_threads, using_threads
from .kernels.checks import finite_max_abs
from .pacing import ELEMENTS_PER_THREAD, threads_for_pass

SUPPORTED_DTYPES = (np.float32, np.float64)


def check_dtype(dtype, name="dtype"):
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError):  # ValueError: e.g. a malformed structured dtype
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from None
    if dtype.type not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dtype}")
    return np.dtype(dtype.type)  # native byte order (">f4" too): what the kernels take


def check_choice(value, choices, name):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return value


PRECISIONS = ("32", "bf16-mixed")


def check_precision(precision, dtype):
    """``precision`` checked: one of PRECISIONS; "bf16-mixed" for a float32 network on
    a CPU that multiplies bfloat16 numbers (see ``tuning.bf16_products``)."""
    from . import tuning

    check_choice(precision, PRECISIONS, "precision")
    if precision == "bf16-mixed":
        if np.dtype(dtype) != np.float32:
            raise ValueError(f"precision='bf16-mixed' needs a float32 network; this one "
                             f"is {np.dtype(dtype).name}")
        if tuning.bf16_products() is None:
            raise ValueError(
                f"precision='bf16-mixed' needs a CPU with AVX512-BF16 (the feature "
                f"{', '.join(tuning.BF16_FEATURES)}) or AMX-BF16 tiles "
                f"({', '.join(tuning.AMX_FEATURES)}); this one ({tuning.cpu_model()}) "
                f"lacks both. Use precision='32', or set {tuning.BF16_ENV}=emulated to run "
                f"the same numerics, slowly, in float32 arithmetic")
    return precision


def check_int(value, name, minimum=None, maximum=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return value


def check_positive_float(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the range of floats
        raise ValueError(f"{name} must be a finite number > 0; got {value}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value}")
    return value


def _as_numeric_array(values, name):
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a numeric array; {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got an array of dtype {array.dtype}")
    return array


def _check_finite(array, name):
    """Raise unless every element is finite; return max |array| where that comes free
    (2-D arrays smaller than one thread's share, and 2-D float32/float64 C-contiguous
    ones in one parallel pass), else None."""
    if array.dtype.kind != "f":
        return None
    largest = None
    if array.ndim == 2 and 0 < array.size < ELEMENTS_PER_THREAD:
        # one thread's share: NumPy, and the kernel is not compiled for it (2 s of a
        # first run); blocks of rows, so that the temporary stays small
        largest = _max_abs_by_blocks(array)
        finite = largest < np.inf
    elif (array.ndim == 2 and array.dtype.type in SUPPORTED_DTYPES and array.dtype.isnative
            and array.flags.c_contiguous):
        threads = threads_for_pass(array.size, max_threads())
        with using_threads(threads):  # a parallel kernel, as those of training
            largest = finite_max_abs(array)  # one parallel pass, no temporary
        finite = largest < np.inf
    else:
        finite = np.isfinite(array).all()
    if not finite:
        raise ValueError(f"{name} contains NaN or infinity")
    return largest


CHECK_BLOCK = 1 << 14  # elements of a block of rows that ``_max_abs_by_blocks`` copies


def _max_abs_by_blocks(array):
    """max |array| of a non-empty 2-D array, infinity where an element is NaN or infinite."""
    rows = max(1, CHECK_BLOCK // array.shape[1])
    largest = 0.0
    for r in range(0, array.shape[0], rows):
        block = float(np.abs(array[r:r + rows]).max())
        if not block < np.inf:  # NaN too
            return np.inf
        largest = max(largest, block)
    return largest


def check_inputs(X, n_features, dtype, name="X", return_max=False):
    """X as a C-contiguous (n_samples, n_features) array of ``dtype``, converted once;
    with ``return_max``, also max |X| (from the same pass as the finiteness check)."""
    mapped = isinstance(X, np.memmap)
    X = _as_numeric_array(X, name)
    check_input_shape(X.shape, n_features, name)
    if mapped and _used_in_place(X, dtype):
        # A file-backed array is not copied whole into memory: the kernels convert the
        # rows of each batch as they gather them (one compiled variant per dtype).
        X = np.asarray(X)  # a plain ndarray over the same mapping
        if X.dtype.kind == "f":
            largest = _check_finite(X, name)
        else:
            largest = float(max(abs(int(X.min())), abs(int(X.max()))))
        return (X, largest) if return_max else X
    X = _convert(X, dtype)
    largest = _check_finite(X, name)  # after the conversion: also catches overflow to float32
    return (X, largest) if return_max else X


def check_input_shape(shape, n_features, name="X", what="an array"):
    """Inputs must be (n_samples >= 1, n_features)."""
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, {n_features}); got "
                         f"{what} of shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name} is empty: it must hold at least one sample")
    if shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (the network's input size); "
                         f"got {shape[1]}")


# Types of file-backed inputs that training reads in place (see ``check_inputs``).
IN_PLACE_DTYPES = (np.uint8, np.float32, np.float64)


def _used_in_place(X, dtype):
    """Whether a memory-mapped X can be read by training as it is: converting it would
    copy the whole file into memory (four times over for bytes)."""
    return (X.dtype.type in IN_PLACE_DTYPES and X.dtype.isnative and X.flags.c_contiguous
            and X.dtype != dtype)


def _convert(array, dtype):
    """``array`` as C-contiguous ``dtype``; values beyond its range become infinite
    (quietly: the caller checks for that and says so)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(array, dtype=dtype)


def check_targets(y, n_samples, n_outputs, dtype, name="y", float_labels=True):
    """Targets as a (n_samples, n_outputs) array of ``dtype`` and whether they were class labels.

    A 1-D array of integers or booleans holds class labels: one-hot encoded for several
    outputs, a 0/1 column for one output. A 1-D array of floats holds labels too when
    ``float_labels`` and all its values are whole (a classifier's y read from a file),
    and is otherwise a single target of values (as scikit-learn's regressors read it:
    a quadratic-cost network passes ``float_labels=False``). A 2-D array is the target
    matrix.
    """
    y = _as_numeric_array(y, name)
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (class labels) or 2-D of shape (n_samples, "
                         f"{n_outputs}); got an array of shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} rows but X has {n_samples} samples")
    _check_finite(y, name)
    if y.ndim == 2:
        if y.shape[1] != n_outputs:
            raise ValueError(f"{name} must have {n_outputs} columns (the network's output "
                             f"size); got {y.shape[1]}")
        return _converted_finite(y, dtype, name), False
    integral = y.dtype.kind in "biu" or (float_labels and bool(np.all(y == np.round(y))))
    if not integral:
        if n_outputs != 1:
            got = ("float values, which a quadratic-cost network reads as values (pass "
                   "labels as integers, e.g. y.astype(int))"
                   if y.dtype.kind == "f" and not float_labels else "non-integer values")
            raise ValueError(f"{name} must hold integer class labels in [0, {n_outputs}) "
                             f"or be a 2-D target matrix; got {got}")
        return _converted_finite(y.reshape(-1, 1), dtype, name), False
    n_classes = max(n_outputs, 2)
    # The range is checked before any conversion, so that no label can wrap around.
    low, high = y.min(), y.max()
    if low < 0 or high >= n_classes:
        low, high = (str(int(v)) if y.dtype.kind in "biu" else f"{float(v):g}"
                     for v in (low, high))
        raise ValueError(f"{name} holds class labels in [{low}, {high}]; "
                         f"expected labels in [0, {n_classes}) for a network with "
                         f"{n_outputs} output{'s' if n_outputs > 1 else ''}"
                         + ("; to give values, not labels, pass y as floats to a "
                            "quadratic-cost network" if n_outputs == 1 else ""))
    labels = y.astype(np.int64)
    if n_outputs == 1:
        return np.ascontiguousarray(labels.reshape(-1, 1), dtype=dtype), True
    targets = np.zeros((n_samples, n_outputs), dtype=dtype)
    targets[np.arange(n_samples), labels] = 1
    return targets, True


def _converted_finite(y, dtype, name):
    """Finite targets converted to ``dtype``; a finite float64 may overflow float32."""
    narrowing = y.dtype.kind == "f" and y.dtype.itemsize > np.dtype(dtype).itemsize
    y = _convert(y, dtype)
    if narrowing and not np.isfinite(y).all():
        raise ValueError(f"{name} holds values too large for {np.dtype(dtype).name}")
    return y


def check_sample_weight(sample_weight, class_weight, y, n_samples):
    """Per-sample weights as float64 (n_samples,), or an empty array when all are 1."""
    weight = np.ones(n_samples)
    given = False
    if sample_weight is not None:
        sw = _as_numeric_array(sample_weight, "sample_weight")
        if sw.shape != (n_samples,):
            raise ValueError(f"sample_weight must have shape ({n_samples},); got {sw.shape}")
        sw = sw.astype(np.float64)
        _check_finite(sw, "sample_weight")
        if (sw < 0).any():
            raise ValueError("sample_weight must be >= 0")
        weight *= sw
        given = True
    if class_weight is not None:
        labels = np.asarray(y)
        if labels.ndim != 1 or labels.dtype.kind not in "biu":
            raise ValueError("class_weight needs y as integer class labels")
        classes, counts = np.unique(labels, return_counts=True)
        if isinstance(class_weight, str):
            check_choice(class_weight, {"balanced"}, "class_weight")
            table = dict(zip(classes.tolist(), (n_samples / (len(classes) * counts)).tolist()))
        elif isinstance(class_weight, dict):
            table = _class_weight_table(class_weight)
        else:
            raise TypeError(f"class_weight must be a dict or 'balanced'; got {class_weight!r}")
        weight *= np.array([table.get(int(c), 1.0) for c in labels])
        given = True
    return weight if given else np.zeros(0)


def _class_weight_table(class_weight):
    """A class_weight dict as {int label: float weight}, checked."""
    table = {}
    for label, value in class_weight.items():
        if isinstance(label, (bool, np.bool_)) or not isinstance(label, numbers.Integral):
            raise TypeError(f"class_weight keys must be integer class labels; got {label!r}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"class_weight[{label!r}] must be a real number; got {value!r}")
        try:
            value = float(value)
        except OverflowError:
            value = float("inf")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"class_weight values must be finite and >= 0; "
                             f"got class_weight[{label!r}] = {value}")
        table[int(label)] = value
    return table
