"""Argument checks shared by the run functions: one-line :class:`PyrtrlError` messages."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import PyrtrlError


def check_int(label: str, v: Any, minimum: int) -> int:
    """``v`` as an int, if it is an integer (not a bool) >= ``minimum``."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise PyrtrlError(f"{label} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def check_float(label: str, v: Any, low: float, high: float = math.inf, low_open: bool = True,
                high_open: bool = False) -> float:
    """``v`` as a float, if it is finite and within the interval (ends open or closed)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise PyrtrlError(f"{label} must be a number, got {v!r}") from None
    ok = (math.isfinite(f) and (f > low if low_open else f >= low)
          and (f < high if high_open else f <= high))
    if not ok:
        if math.isinf(high):
            want = f"a finite number {'>' if low_open else '>='} {low:g}"
        else:
            want = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise PyrtrlError(f"{label} must be {want}, got {v!r}")
    return f
