"""Warnings that point at the user's line: the first caller outside fastbp."""

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message, category=RuntimeWarning):
    """``warnings.warn`` with the stacklevel of the first frame outside this package
    (``Trainer.fit`` may be called by the estimators, the command line or a wrapper)."""
    frame, level = sys._getframe(0), 1  # this function's frame is level 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
