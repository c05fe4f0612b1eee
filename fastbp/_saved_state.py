"""A trainer's settings and training state read back from a model file, every value
checked for type and range before it is used.

A file's checksum proves it is intact, not that whoever wrote it was friendly: an
``extra/`` entry may hold infinity where a batch size belongs, a string where a flag
does, or a generator state of 2**200. Each read here takes one entry and either returns
a plain Python value in the range the trainer accepts, or raises
:class:`~fastbp.io.ModelFileError` naming the entry and what was expected.
"""

import json

import numpy as np

from .io import ModelFileError

# Counts (epochs, steps, batch sizes, thread counts) beyond any real run; exact in float64.
MAX_COUNT = 2**53
# A JSON PCG64 state takes about 170 characters; the cap also bounds any nesting.
_MAX_RNG_STATE_CHARS = 400
_RNG_KEYS = {"bit_generator", "state", "has_uint32", "uinteger"}
_MISSING = object()


class SavedState:
    """Checked reads of a loaded file's ``extra`` entries (see :mod:`fastbp.io`).

    Parameters
    ----------
    model : fastbp.io.LoadedModel
    path : str or os.PathLike
        For error messages.
    """

    def __init__(self, model, path):
        self.extra, self.path = model.extra, path

    def __contains__(self, key):
        return key in self.extra

    def fail(self, key, expected, value=_MISSING):
        got = "it is missing" if value is _MISSING else f"got {_short(value)}"
        return ModelFileError(f"{self.path!s}: extra/{key} must be {expected}; {got}")

    def _get(self, key, default, expected):
        if key in self.extra:
            return self.extra[key]
        if default is _MISSING:
            raise self.fail(key, expected)
        return default

    def integer(self, key, low=0, high=MAX_COUNT, default=_MISSING):
        """An integer entry in [low, high]."""
        expected = f"an integer in [{low}, {high}]"
        value = self._get(key, default, expected)
        if value is default:
            return value
        if not isinstance(value, np.integer) or not low <= int(value) <= high:
            raise self.fail(key, expected, value)
        return int(value)

    def real(self, key, low, high, *, low_open=False, high_open=False, default=_MISSING):
        """A real number in the interval from ``low`` to ``high`` (infinite bounds
        allowed where ``low``/``high`` are infinite and the side is closed)."""
        expected = (f"a number in {'(' if low_open else '['}{low}, {high}"
                    f"{')' if high_open else ']'}")
        value = self._get(key, default, expected)
        if value is default:
            return value
        if not isinstance(value, (np.floating, np.integer)):
            raise self.fail(key, expected, value)
        number = float(value)
        inside = ((low < number if low_open else low <= number)
                  and (number < high if high_open else number <= high))
        if not inside:  # NaN too
            raise self.fail(key, expected, value)
        return number

    def flag(self, key, default=_MISSING):
        value = self._get(key, default, "a boolean")
        if value is default:
            return value
        if not isinstance(value, np.bool_):
            raise self.fail(key, "a boolean", value)
        return bool(value)

    def choice(self, key, choices, default=_MISSING):
        expected = f"one of {sorted(choices)}"
        value = self._get(key, default, expected)
        if value is default:
            return value
        if not isinstance(value, np.str_) or str(value) not in choices:
            raise self.fail(key, expected, value)
        return str(value)

    def strings(self, key, count, max_chars=200, default=_MISSING):
        """``count`` distinct printable strings of 1 to ``max_chars`` characters (a 1-D
        unicode array), as a list of str."""
        expected = f"{count} distinct printable strings of 1 to {max_chars} characters"
        value = self._get(key, default, expected)
        if value is default:
            return value
        if (not isinstance(value, np.ndarray) or value.dtype.kind != "U"
                or value.shape != (count,)):
            raise self.fail(key, expected, value)
        strings = value.tolist()
        if (len(set(strings)) != count
                or not all(0 < len(s) <= max_chars and s.isprintable() for s in strings)):
            raise self.fail(key, expected, value)
        return strings

    def floats(self, key, shape=None, dtype=None, *, finite=True, default=_MISSING):
        """A float array (of ``shape`` and ``dtype`` if given; 1-D otherwise), finite if
        asked."""
        expected = (f"{'finite ' if finite else ''}{dtype.name if dtype else 'float'} values "
                    f"of shape {shape if shape is not None else '(n,)'}")
        value = self._get(key, default, expected)
        if value is default:
            return value
        array = np.asarray(value)
        if (array.dtype.kind != "f" or (dtype is not None and array.dtype != dtype)
                or (array.shape != shape if shape is not None else array.ndim != 1)
                or (finite and not np.isfinite(array).all())):
            raise self.fail(key, expected, value)
        return array

    def rng_state(self, key):
        """The state of a NumPy ``PCG64`` generator, as ``json.dumps`` of its ``state``."""
        expected = "the JSON state of a PCG64 generator"
        text = self._get(key, _MISSING, expected)
        if not isinstance(text, np.str_) or len(text) > _MAX_RNG_STATE_CHARS:
            raise self.fail(key, expected, text)
        try:
            state = json.loads(str(text))
        except (ValueError, RecursionError):
            raise self.fail(key, expected, text) from None
        if not (isinstance(state, dict) and set(state) == _RNG_KEYS
                and state["bit_generator"] == "PCG64"
                and isinstance(state["state"], dict) and set(state["state"]) == {"state", "inc"}
                and _is_int(state["state"]["state"], 2**128)
                and _is_int(state["state"]["inc"], 2**128) and state["state"]["inc"] % 2 == 1
                and _is_int(state["has_uint32"], 2) and _is_int(state["uinteger"], 2**32)):
            raise self.fail(key, expected + " (state and odd inc below 2**128, has_uint32 "
                            "0 or 1, uinteger below 2**32)", text)
        return state


def check_optimizer_state(model, name, path):
    """Optimiser buffer ``opt/<name>``: finite values in the layout of the parameters."""
    net = model.network
    value = model.optimizer_state.get(name)
    if (not isinstance(value, np.ndarray) or value.shape != net.params.shape
            or value.dtype != net.dtype or not np.isfinite(value).all()):
        got = "it is missing" if value is None else f"got {_short(value)}"
        raise ModelFileError(f"{path!s}: opt/{name} must be finite {net.dtype.name} values "
                             f"of shape {net.params.shape}; {got}")
    return value


def _is_int(value, end):
    return type(value) is int and 0 <= value < end


def _short(value):
    """A repr for an error message, cut to a readable length."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        text = f"an array of dtype {value.dtype} and shape {value.shape}"
    else:
        text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 80 else text[:77] + "..."
