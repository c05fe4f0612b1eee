"""Checks at the public entry points: one clear message naming the argument and what
was expected."""

import numbers

import numpy as np

from .kernels.checks import all_finite

SUPPORTED_DTYPES = (np.float32, np.float64)


def check_dtype(dtype, name="dtype"):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from None
    if dtype.type not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dtype}")
    return dtype


def check_choice(value, choices, name):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return value


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
    value = float(value)
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
    if array.dtype.kind != "f":
        return
    if (array.ndim == 2 and array.dtype.type in SUPPORTED_DTYPES and array.dtype.isnative
            and array.flags.c_contiguous):
        finite = all_finite(array)  # one parallel pass, no temporary
    else:
        finite = np.isfinite(array).all()
    if not finite:
        raise ValueError(f"{name} contains NaN or infinity")


def check_inputs(X, n_features, dtype, name="X"):
    """X as a C-contiguous (n_samples, n_features) array of ``dtype``, converted once."""
    X = _as_numeric_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, {n_features}); "
                         f"got an array of shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it must hold at least one sample")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (the network's input size); "
                         f"got {X.shape[1]}")
    X = np.ascontiguousarray(X, dtype=dtype)
    _check_finite(X, name)  # after the conversion: also catches overflow to float32
    return X


def check_targets(y, n_samples, n_outputs, dtype, name="y"):
    """Targets as a (n_samples, n_outputs) array of ``dtype`` and whether they were class labels.

    A 1-D array of integers (or of integral floats, or booleans) holds class labels:
    one-hot encoded for several outputs, a 0/1 column for one output. A 1-D array of
    other floats is a single regression target; a 2-D array is the target matrix.
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
        return np.ascontiguousarray(y, dtype=dtype), False
    integral = y.dtype.kind in "biu" or bool(np.all(y == np.round(y)))
    if not integral:
        if n_outputs != 1:
            raise ValueError(f"{name} must hold integer class labels in [0, {n_outputs}) "
                             f"or be a 2-D target matrix; got non-integer values")
        return np.ascontiguousarray(y.reshape(-1, 1), dtype=dtype), False
    labels = y.astype(np.int64)
    n_classes = max(n_outputs, 2)
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"{name} holds class labels in [{labels.min()}, {labels.max()}]; "
                         f"expected labels in [0, {n_classes}) for a network with "
                         f"{n_outputs} output{'s' if n_outputs > 1 else ''}")
    if n_outputs == 1:
        return np.ascontiguousarray(labels.reshape(-1, 1), dtype=dtype), True
    targets = np.zeros((n_samples, n_outputs), dtype=dtype)
    targets[np.arange(n_samples), labels] = 1
    return targets, True


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
            table = {int(k): float(v) for k, v in class_weight.items()}
            if any(not np.isfinite(v) or v < 0 for v in table.values()):
                raise ValueError("class_weight values must be finite and >= 0")
        else:
            raise TypeError(f"class_weight must be a dict or 'balanced'; got {class_weight!r}")
        weight *= np.array([table.get(int(c), 1.0) for c in labels])
        given = True
    return weight if given else np.zeros(0)
