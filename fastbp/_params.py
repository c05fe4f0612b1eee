"""The estimators' parameters checked against one declarative table, with scikit-learn's
wording ("The 'alpha' parameter of MLPClassifier must be ...") but none of its private
modules."""

import numbers

import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A parameter of the wrong type or out of range (as scikit-learn's, both kinds)."""


class Interval:
    """Numbers of ``kind`` (``numbers.Integral`` or ``numbers.Real``; never booleans)
    between ``low`` and ``high`` (None: unbounded), ``closed`` at "left", "right",
    "both" or "neither"."""

    def __init__(self, kind, low, high, closed):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        left_ok = (self.low is None or value > self.low
                   or (value == self.low and self.closed in ("left", "both")))
        right_ok = (self.high is None or value < self.high
                    or (value == self.high and self.closed in ("right", "both")))
        return bool(left_ok and right_ok)

    def __str__(self):
        name = "an int" if self.kind is numbers.Integral else "a float"
        left = "[" if self.closed in ("left", "both") and self.low is not None else "("
        right = "]" if self.closed in ("right", "both") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{name} in the range {left}{low}, {high}{right}"


class Options:
    """One of a set of strings."""

    def __init__(self, *options):
        self.options = options

    def accepts(self, value):
        return isinstance(value, str) and value in self.options

    def __str__(self):
        return f"a str among {{{', '.join(repr(o) for o in sorted(self.options))}}}"


class Kind:
    """Values that ``test`` accepts, described as ``description``."""

    def __init__(self, test, description):
        self.accepts, self.description = test, description

    def __str__(self):
        return self.description


BOOLEAN = Kind(lambda v: isinstance(v, (bool, np.bool_)), "an instance of 'bool'")
NONE = Kind(lambda v: v is None, "None")
ARRAY_LIKE = Kind(lambda v: isinstance(v, (list, tuple, np.ndarray)), "an array-like")
RANDOM_STATE = Kind(
    lambda v: v is None or isinstance(v, np.random.RandomState) or (
        isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
        and 0 <= v < 2**32), "an int in the range [0, 4294967295], an instance of "
                             "'numpy.random.mtrand.RandomState' or None")
VERBOSE = Kind(lambda v: isinstance(v, (bool, np.bool_)) or (
    isinstance(v, numbers.Integral) and v >= 0), "an int in the range [0, inf) or a bool")
DTYPE = Kind(lambda v: isinstance(v, (type, str, np.dtype)), "a type, a str or a dtype")


def check_parameters(estimator, table, hints=None):
    """Raise :class:`InvalidParameterError` for the first parameter of ``estimator``
    that no rule of its ``table`` entry accepts; ``hints[name](value)`` may add a
    sentence to the message."""
    for name, rules in table.items():
        value = getattr(estimator, name)
        if any(rule.accepts(value) for rule in rules):
            continue
        allowed = [str(rule) for rule in rules]
        expected = allowed[0] if len(allowed) == 1 else (", ".join(allowed[:-1])
                                                          + " or " + allowed[-1])
        hint = (hints or {}).get(name, lambda value: None)(value)
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(estimator).__name__} must be {expected}. "
            f"Got {value!r} instead." + (f" {hint}" if hint else ""))
