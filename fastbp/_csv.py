"""The command line's CSV files: numbers separated by commas, an optional header line,
and a last column that may hold text (class names such as "setosa")."""

import contextlib
import warnings

import numpy as np


def read_csv(path):
    """The columns but the last, and the last column, of a CSV file.

    The first line is a header when a field other than the last is not a number, or
    when its last field is text and the next line's is a number. Blank lines and ``#``
    comments are skipped, as ``np.loadtxt`` does; fields may be quoted with ``"``.
    Every line must have as many fields as the first line of data.

    Returns
    -------
    features : ndarray of float64, shape (n_rows, n_columns - 1)
    last : ndarray, shape (n_rows,)
        float64 when every field of the column is a number, else str (stripped of
        surrounding spaces).
    """
    skip, columns = _layout(path)
    read = dict(delimiter=",", skiprows=skip, quotechar='"')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data": refused by _layout
        last = np.char.strip(np.loadtxt(path, usecols=[columns - 1], dtype=str, ndmin=1,
                                        **read))
        features = (np.loadtxt(path, usecols=range(columns - 1), ndmin=2, **read)
                    if columns > 1 else np.zeros((len(last), 0)))
    with contextlib.suppress(ValueError):  # text stays text: class names
        last = last.astype(np.float64)
    return features, last


def _layout(path):
    """(lines before the data, fields per line), every line of data checked."""
    head, columns, skip = [], 0, 0  # head: (index, fields) of the first two lines of text
    with open(path) as f:
        for index, line in enumerate(f):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            fields = [field.strip().strip('"') for field in text.split(",")]
            if len(head) < 2:
                head.append((index, fields))
                if len(head) == 2:
                    skip, columns = _header(path, head)
                continue
            _check_fields(path, fields, columns, index)
    if len(head) == 1:
        skip, columns = _header(path, head)
    if not columns:
        raise ValueError(f"{path}: no rows of data")
    return skip, columns


def _header(path, head):
    """(lines to skip, fields per line) from the first one or two lines of text."""
    (index, first), following = head[0], head[1:]
    header = (any(not _is_number(v) for v in first[:-1])
              or (not _is_number(first[-1]) and bool(following)
                  and _is_number(following[0][1][-1])))
    data = following if header else head
    if not data:
        return index + 1, 0
    columns = len(data[0][1])
    for line, fields in data:
        _check_fields(path, fields, columns, line)
    return (index + 1 if header else 0), columns


def _check_fields(path, fields, columns, index):
    if len(fields) != columns:
        raise ValueError(f"{path}: line {index + 1} has {len(fields)} fields; the first "
                         f"line of data has {columns}")


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True
